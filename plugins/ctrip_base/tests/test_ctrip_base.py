"""The ctrip-base plugin against the chain-adapter contract (ctrip_core/testing.py); its chain's
quirks on Anvil are tested with the sweeper (tests/sweeps/test_sweep_l2_fees.py)."""

import ctrip_base

from ctrip_core.chains.l1_fee import GAS_PRICE_ORACLE
from ctrip_core.testing import ChainAdapterContract


class TestBase(ChainAdapterContract):
    module = ctrip_base
    adapter = ctrip_base.BaseChain
    package = "ctrip-base"
    chain_ids = (8453, 84532)
    fee_model = "eip1559"
    default_confirmations = 30
    default_block_time_s = 2
    l1_fee_oracle = GAS_PRICE_ORACLE
    native_symbol, block_time_s = "ETH", 2
