"""The ctrip-bsc plugin against the chain-adapter contract (ctrip_core/testing.py): BNB Smart Chain
(56) and its testnet (97), legacy `eth_gasPrice` fees (checked on an Anvil serving 97), 15 confirmations."""

import ctrip_bsc

from ctrip_core.testing import ChainAdapterContract


class TestBsc(ChainAdapterContract):
    module = ctrip_bsc
    adapter = ctrip_bsc.BscChain
    package = "ctrip-bsc"
    chain_ids = (56, 97)
    fee_model = "legacy"
    default_confirmations = 15
    default_block_time_s = 0.75
    native_symbol, block_time_s = "BNB", 3
