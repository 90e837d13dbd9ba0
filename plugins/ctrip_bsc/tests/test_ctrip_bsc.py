"""The ctrip-bsc plugin: installed under the `ctrip` entry-point group, its adapter's attributes and fees.

The fee model is checked against a local Anvil started with BSC testnet's chain id (97): a real node,
answering the legacy `eth_gasPrice` this adapter uses.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import ctrip_bsc
import pytest
from ctrip_bsc import BscChain

from ctrip_core.chains import ChainIdMismatch, EVMChain, RetryPolicy
from ctrip_core.chains.registry import build_chains
from ctrip_core.config import ChainConfig, ConfigError, load_settings
from ctrip_core.devnet.anvil import AnvilNode
from ctrip_core.plugins import collect_chain_adapters, get_plugin_manager, installed_plugins

NAME = "bsc"
CHAINS_YAML = """
bsc:
  adapter: bsc
  chain_id: {chain_id}
  rpc_url: https://bsc.example.invalid
  block_time_s: 3
  native: {{symbol: BNB, decimals: 18}}
"""


def settings(tmp_path, *, enabled: list[str] | None = None, chains_yaml: str = ""):
    chains_file = tmp_path / "chains.yaml"
    chains_file.write_text(chains_yaml)
    return load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'ctrip.db'}",
                         redis_url="redis://127.0.0.1:6379/15", chains_file=str(chains_file),
                         plugins={"enabled": enabled or []})


def config(rpc_url: str, chain_id: int = 56, confirmations: int | None = None) -> ChainConfig:
    return ChainConfig(name="bsc", adapter=NAME, chain_id=chain_id, rpc_url=rpc_url, confirmations=confirmations,
                       block_time_s=3, native={"symbol": "BNB", "decimals": 18})


def test_the_plugin_is_installed():
    (ep,) = [ep for ep in entry_points(group="ctrip") if ep.name == NAME]
    assert ep.value == "ctrip_bsc"
    assert ep.dist.metadata["Name"] == "ctrip-bsc"
    assert ep.load() is ctrip_bsc


def test_adapter_class_attributes():
    assert issubclass(BscChain, EVMChain)
    assert BscChain.name == NAME
    assert BscChain.chain_ids == (56, 97)
    assert BscChain.fee_model == "legacy"
    assert BscChain.default_confirmations == 15


def test_plugin_manager_maps_the_name_to_the_class(tmp_path):
    assert collect_chain_adapters(get_plugin_manager(settings(tmp_path)))[NAME] is BscChain
    assert collect_chain_adapters(get_plugin_manager(settings(tmp_path, enabled=[NAME]))) == {NAME: BscChain}
    assert NAME not in collect_chain_adapters(get_plugin_manager(settings(tmp_path, enabled=["anvil"])))
    plugin = next(p for p in installed_plugins(settings(tmp_path)) if p.name == NAME)
    assert plugin.package == "ctrip-bsc" and not plugin.core and plugin.enabled


@pytest.mark.parametrize("chain_id", [56, 97])
def test_chains_file_builds_the_adapter(tmp_path, chain_id):
    s = settings(tmp_path, chains_yaml=CHAINS_YAML.format(chain_id=chain_id))
    chain = build_chains(s, get_plugin_manager(s))["bsc"]
    assert isinstance(chain, BscChain) and chain.confirmations == 15


def test_chains_file_with_a_foreign_chain_id_is_refused(tmp_path):
    s = settings(tmp_path, chains_yaml=CHAINS_YAML.format(chain_id=1))
    with pytest.raises(ConfigError) as info:
        build_chains(s, get_plugin_manager(s))
    assert "bsc.chain_id" in str(info.value) and "56, 97" in str(info.value) and "not 1" in str(info.value)


def test_chains_file_naming_a_disabled_plugin_is_refused(tmp_path):
    s = settings(tmp_path, enabled=["anvil"], chains_yaml=CHAINS_YAML.format(chain_id=56))
    with pytest.raises(ConfigError) as info:
        build_chains(s, get_plugin_manager(s))
    assert "'bsc'" in str(info.value) and "plugins.enabled" in str(info.value)


def test_confirmations_default_and_override():
    assert BscChain(config("https://bsc.example.invalid")).confirmations == 15
    assert BscChain(config("https://bsc.example.invalid", confirmations=20)).confirmations == 20


@pytest.fixture(scope="module")
def testnet_node():
    node = AnvilNode.start(chain_id=97)
    yield node
    node.stop()


@pytest.fixture
async def chain(testnet_node):
    adapter = BscChain(config(testnet_node.rpc_url, chain_id=97),
                       retry=RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.01))
    yield adapter
    await adapter.close()


async def test_legacy_fee_quote_from_a_node(chain, testnet_node):
    await chain.verify_chain_id()
    quote = await chain.fee_quote()
    assert quote.model == "legacy"
    assert quote.gas_price == int(testnet_node.rpc("eth_gasPrice"), 16) > 0
    assert quote.max_fee_per_gas is None and quote.max_priority_fee_per_gas is None
    assert quote.worst_case_per_gas == quote.gas_price


async def test_mainnet_config_against_testnet_node_is_a_mismatch(testnet_node):
    adapter = BscChain(config(testnet_node.rpc_url, chain_id=56))
    try:
        with pytest.raises(ChainIdMismatch) as info:
            await adapter.verify_chain_id()
        assert "chain_id 56 " in str(info.value) and "answers 97" in str(info.value)
    finally:
        await adapter.close()
