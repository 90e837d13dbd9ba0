"""The ctrip-arbitrum plugin against the chain-adapter contract (ctrip_core/testing.py); its chain's
quirks on Anvil are tested with the sweeper (tests/sweeps/test_sweep_l2_fees.py)."""

import ctrip_arbitrum

from ctrip_core.testing import ChainAdapterContract


class TestArbitrum(ChainAdapterContract):
    module = ctrip_arbitrum
    adapter = ctrip_arbitrum.ArbitrumChain
    package = "ctrip-arbitrum"
    chain_ids = (42161, 421614)
    fee_model = "eip1559"
    default_confirmations = 240
    default_block_time_s = 0.25
    native_symbol, block_time_s = "ETH", 0.25
