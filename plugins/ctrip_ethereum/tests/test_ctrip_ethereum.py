"""The ctrip-ethereum plugin: installed under the `ctrip` entry-point group, its adapter's attributes and fees.

The fee model is checked against a local Anvil started with Sepolia's chain id (11155111): a real
node with EIP-1559 base fees, like the chain this adapter serves.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import ctrip_ethereum
import pytest
from ctrip_ethereum import EthereumChain

from ctrip_core.chains import ChainIdMismatch, EVMChain, RetryPolicy
from ctrip_core.chains.registry import build_chains
from ctrip_core.config import ChainConfig, ConfigError, load_settings
from ctrip_core.devnet.anvil import AnvilNode
from ctrip_core.plugins import collect_chain_adapters, get_plugin_manager, installed_plugins

NAME = "ethereum"
SEPOLIA = 11155111
CHAINS_YAML = """
eth:
  adapter: ethereum
  chain_id: {chain_id}
  rpc_url: [https://eth-a.example.invalid, https://eth-b.example.invalid]
  block_time_s: 12
  native: {{symbol: ETH, decimals: 18}}
  tokens:
    - {{symbol: USDC, address: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", decimals: 6}}
"""


def settings(tmp_path, *, enabled: list[str] | None = None, chains_yaml: str = ""):
    chains_file = tmp_path / "chains.yaml"
    chains_file.write_text(chains_yaml)
    return load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'ctrip.db'}",
                         redis_url="redis://127.0.0.1:6379/15", chains_file=str(chains_file),
                         plugins={"enabled": enabled or []})


def config(rpc_url: str, chain_id: int = 1, confirmations: int | str | None = None) -> ChainConfig:
    return ChainConfig(name="eth", adapter=NAME, chain_id=chain_id, rpc_url=rpc_url, confirmations=confirmations,
                       block_time_s=12, native={"symbol": "ETH", "decimals": 18})


def test_the_plugin_is_installed():
    (ep,) = [ep for ep in entry_points(group="ctrip") if ep.name == NAME]
    assert ep.value == "ctrip_ethereum"
    assert ep.dist.metadata["Name"] == "ctrip-ethereum"
    assert ep.load() is ctrip_ethereum


def test_adapter_class_attributes():
    assert issubclass(EthereumChain, EVMChain)
    assert EthereumChain.name == NAME
    assert EthereumChain.chain_ids == (1, SEPOLIA)
    assert EthereumChain.fee_model == "eip1559"
    assert EthereumChain.default_confirmations == 12


def test_plugin_manager_maps_the_name_to_the_class(tmp_path):
    assert collect_chain_adapters(get_plugin_manager(settings(tmp_path)))[NAME] is EthereumChain
    assert collect_chain_adapters(get_plugin_manager(settings(tmp_path, enabled=[NAME]))) == {NAME: EthereumChain}
    assert NAME not in collect_chain_adapters(get_plugin_manager(settings(tmp_path, enabled=["anvil"])))
    plugin = next(p for p in installed_plugins(settings(tmp_path)) if p.name == NAME)
    assert plugin.package == "ctrip-ethereum" and not plugin.core and plugin.enabled


@pytest.mark.parametrize("chain_id", [1, SEPOLIA])
def test_chains_file_builds_the_adapter(tmp_path, chain_id):
    s = settings(tmp_path, chains_yaml=CHAINS_YAML.format(chain_id=chain_id))
    chain = build_chains(s, get_plugin_manager(s))["eth"]
    assert isinstance(chain, EthereumChain) and chain.confirmations == 12
    assert chain.rpc.urls == ["https://eth-a.example.invalid", "https://eth-b.example.invalid"]  # failover order


def test_chains_file_with_a_foreign_chain_id_is_refused(tmp_path):
    s = settings(tmp_path, chains_yaml=CHAINS_YAML.format(chain_id=56))
    with pytest.raises(ConfigError) as info:
        build_chains(s, get_plugin_manager(s))
    assert "eth.chain_id" in str(info.value) and f"1, {SEPOLIA}" in str(info.value) and "not 56" in str(info.value)


def test_confirmations_default_and_override():
    assert EthereumChain(config("https://eth.example.invalid")).confirmations == 12
    assert EthereumChain(config("https://eth.example.invalid", confirmations="finalized")).confirmations == "finalized"


@pytest.fixture(scope="module")
def sepolia_node():
    node = AnvilNode.start(chain_id=SEPOLIA)
    yield node
    node.stop()


@pytest.fixture
async def chain(sepolia_node):
    adapter = EthereumChain(config(sepolia_node.rpc_url, chain_id=SEPOLIA),
                            retry=RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.01))
    yield adapter
    await adapter.close()


async def test_eip1559_fee_quote_from_a_node(chain, sepolia_node):
    await chain.verify_chain_id()
    quote = await chain.fee_quote()
    base_fee = int(sepolia_node.rpc("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
    assert quote.model == "eip1559" and quote.gas_price is None
    assert quote.max_priority_fee_per_gas > 0
    assert quote.max_fee_per_gas >= 2 * base_fee
    assert quote.worst_case_per_gas == quote.max_fee_per_gas


async def test_mainnet_config_against_sepolia_node_is_a_mismatch(sepolia_node):
    adapter = EthereumChain(config(sepolia_node.rpc_url, chain_id=1))
    try:
        with pytest.raises(ChainIdMismatch) as info:
            await adapter.verify_chain_id()
        assert "chain_id 1 " in str(info.value) and f"answers {SEPOLIA}" in str(info.value)
    finally:
        await adapter.close()
