"""The ctrip-optimism plugin against the chain-adapter contract (ctrip_core/testing.py); its chain's
quirks on Anvil are tested with the sweeper (tests/sweeps/test_sweep_l2_fees.py)."""

import ctrip_optimism

from ctrip_core.chains.l1_fee import GAS_PRICE_ORACLE
from ctrip_core.testing import ChainAdapterContract


class TestOptimism(ChainAdapterContract):
    module = ctrip_optimism
    adapter = ctrip_optimism.OptimismChain
    package = "ctrip-optimism"
    chain_ids = (10, 11155420)
    fee_model = "eip1559"
    default_confirmations = 30
    default_block_time_s = 2
    l1_fee_oracle = GAS_PRICE_ORACLE
    native_symbol, block_time_s = "ETH", 2
