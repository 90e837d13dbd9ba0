"""The ctrip-ethereum plugin against the chain-adapter contract (ctrip_core/testing.py): Ethereum
mainnet (1) and Sepolia (11155111), EIP-1559 fees (checked on an Anvil serving Sepolia's id), 12
confirmations; and several RPC URLs kept in their failover order."""

import ctrip_ethereum

from ctrip_core.chains.registry import build_chains
from ctrip_core.plugins import get_plugin_manager
from ctrip_core.testing import ChainAdapterContract

SEPOLIA = 11155111


class TestEthereum(ChainAdapterContract):
    module = ctrip_ethereum
    adapter = ctrip_ethereum.EthereumChain
    package = "ctrip-ethereum"
    chain_ids = (1, SEPOLIA)
    fee_model = "eip1559"
    default_confirmations = 12
    default_block_time_s = 12

    def test_rpc_urls_keep_their_failover_order(self, tmp_path):
        urls = "[https://eth-a.example.invalid, https://eth-b.example.invalid]"
        text = self.chains_yaml(1).replace("rpc_url: https://node.example.invalid", f"rpc_url: {urls}")
        s = self.settings(tmp_path, chains_yaml=text)
        chain = build_chains(s, get_plugin_manager(s))["ethereum-chain"]
        assert chain.rpc.urls == ["https://eth-a.example.invalid", "https://eth-b.example.invalid"]
