"""`OPStackChain`: what every OP-stack chain (Base, Optimism, and any other built on the OP stack)
shares, so its plugin states only its name and chain ids.

Transactions there pay an L1 data fee on top of gas, priced by the GasPriceOracle predeploy at the
same address on every OP-stack chain (`chains/l1_fee.py`); blocks come every 2 s; 30 confirmations
(a minute) stand against sequencer reorgs, `confirmations: finalized` waits for L1 finality.
"""

from __future__ import annotations

from ctrip_core.chains.evm import EVMChain
from ctrip_core.chains.l1_fee import GAS_PRICE_ORACLE


class OPStackChain(EVMChain):
    fee_model = "eip1559"
    default_confirmations = 30
    default_block_time_s = 2
    l1_fee_oracle = GAS_PRICE_ORACLE
