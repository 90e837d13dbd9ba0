"""The ctrip-polygon plugin against the chain-adapter contract (ctrip_core/testing.py); its chain's
quirks on Anvil are tested with the sweeper (tests/sweeps/test_sweep_l2_fees.py)."""

import ctrip_polygon

from ctrip_core.testing import ChainAdapterContract


class TestPolygon(ChainAdapterContract):
    module = ctrip_polygon
    adapter = ctrip_polygon.PolygonChain
    package = "ctrip-polygon"
    chain_ids = (137, 80002)
    fee_model = "eip1559"
    default_confirmations = "finalized"
    default_block_time_s = 2
    native_symbol, block_time_s = "POL", 2
