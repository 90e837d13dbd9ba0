"""The chain-adapter contract, as a pytest suite a chain plugin's tests subclass.

A chain plugin's own test file states only what it is and what differs; every test of the contract
(installed under the `ctrip` entry-point group, registered by name, built from `chains.yaml`, its
chain ids enforced, its confirmations defaulted and overridable, its fee model answered by a real
node started with its testnet's chain id) comes from here:

    from ctrip_core.testing import ChainAdapterContract
    import ctrip_bsc

    class TestBsc(ChainAdapterContract):
        module = ctrip_bsc
        adapter = ctrip_bsc.BscChain
        package = "ctrip-bsc"
        chain_ids = (56, 97)
        fee_model = "legacy"
        default_confirmations = 15
        native_symbol, block_time_s = "BNB", 3

Add the plugin's own tests as further methods of the subclass (or module functions). The node is a
real Anvil (`ctrip_core.devnet.anvil`, one per test class) answering the last of `chain_ids`
(a testnet), so the contract needs `anvil` on PATH or in `.tools/` as the core's tests do.

Importing this module needs pytest (a test dependency, not a runtime one).
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest

from ctrip_core.chains import ChainIdMismatch, EVMChain, RetryPolicy
from ctrip_core.chains.registry import build_chains
from ctrip_core.config import ChainConfig, ConfigError, Settings, load_settings
from ctrip_core.chains.l1_fee import L1_FEE_MARGIN, probe
from ctrip_core.devnet.anvil import AnvilNode
from ctrip_core.devnet.predeploys import install_gas_price_oracle
from ctrip_core.plugins import collect_chain_adapters, get_plugin_manager, installed_plugins

#: An RPC URL never dialled by the offline tests of the contract.
OFFLINE_URL = "https://node.example.invalid"
#: The L1 data fee per byte the oracle stand-in answers on an OP-stack testnet node (wei).
L1_FEE_PER_BYTE = 10**9
#: A chain id no bundled or example adapter claims, for the "foreign chain id" test.
FOREIGN_CHAIN_ID = 4_242_424_242


class ChainAdapterContract:
    """Subclass as `Test<Chain>` and set the class attributes below; pytest collects the tests."""

    #: The plugin's module (what its `ctrip` entry point names).
    module: ClassVar[ModuleType]
    #: The adapter class it registers.
    adapter: ClassVar[type[EVMChain]]
    #: Its distribution name (`pyproject.toml`'s `project.name`).
    package: ClassVar[str]
    #: The chain ids it serves, mainnet first; the last one is the testnet its node test runs.
    chain_ids: ClassVar[tuple[int, ...]]
    fee_model: ClassVar[str]
    default_confirmations: ClassVar[int | str]
    native_symbol: ClassVar[str] = "ETH"
    #: What the tests write as chains.yaml's `block_time_s`.
    block_time_s: ClassVar[float] = 12
    #: The adapter's `default_block_time_s` (None: chains.yaml must state it).
    default_block_time_s: ClassVar[float | None] = None
    #: The adapter's `l1_fee_oracle` (OP-stack chains).
    l1_fee_oracle: ClassVar[str | None] = None

    # -- what the tests build ------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The entry-point and adapter name (`adapter:` in chains.yaml)."""
        return self.adapter.name

    def chains_yaml(self, chain_id: int) -> str:
        return (f"{self.name}-chain:\n  adapter: {self.name}\n  chain_id: {chain_id}\n  rpc_url: {OFFLINE_URL}\n"
                f"  block_time_s: {self.block_time_s}\n  native: {{symbol: {self.native_symbol}, decimals: 18}}\n")

    def settings(self, tmp_path: Path, *, enabled: list[str] | None = None, chains_yaml: str = "") -> Settings:
        chains_file = tmp_path / "chains.yaml"
        chains_file.write_text(chains_yaml)
        return load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'ctrip.db'}",
                             redis_url="redis://127.0.0.1:6379/15", chains_file=str(chains_file),
                             plugins={"enabled": enabled or []})

    def config(self, rpc_url: str, chain_id: int | None = None, confirmations: int | str | None = None,
               **extra: Any) -> ChainConfig:
        return ChainConfig(name=f"{self.name}-chain", adapter=self.name,
                           chain_id=self.chain_ids[0] if chain_id is None else chain_id, rpc_url=rpc_url,
                           confirmations=confirmations, block_time_s=self.block_time_s,
                           native={"symbol": self.native_symbol, "decimals": 18}, **extra)

    # -- installed and registered ------------------------------------------------------------
    def test_the_plugin_is_installed(self):
        (ep,) = [ep for ep in entry_points(group="ctrip") if ep.name == self.name]
        assert ep.value == self.module.__name__
        assert ep.dist.metadata["Name"] == self.package
        assert ep.load() is self.module

    def test_adapter_class_attributes(self):
        assert issubclass(self.adapter, EVMChain)
        assert self.adapter.chain_ids == self.chain_ids
        assert self.adapter.fee_model == self.fee_model
        assert self.adapter.default_confirmations == self.default_confirmations
        assert self.adapter.default_block_time_s == self.default_block_time_s
        assert self.adapter.l1_fee_oracle == self.l1_fee_oracle

    def test_plugin_manager_maps_the_name_to_the_class(self, tmp_path):
        assert collect_chain_adapters(get_plugin_manager(self.settings(tmp_path)))[self.name] is self.adapter
        only = collect_chain_adapters(get_plugin_manager(self.settings(tmp_path, enabled=[self.name])))
        assert only == {self.name: self.adapter}
        other = "anvil" if self.name != "anvil" else "ethereum"
        assert self.name not in collect_chain_adapters(get_plugin_manager(self.settings(tmp_path, enabled=[other])))
        plugin = next(p for p in installed_plugins(self.settings(tmp_path)) if p.name == self.name)
        assert plugin.package == self.package and not plugin.core and plugin.enabled

    # -- built from chains.yaml --------------------------------------------------------------
    def test_chains_file_builds_the_adapter_for_each_chain_id(self, tmp_path):
        for chain_id in self.chain_ids:
            s = self.settings(tmp_path, chains_yaml=self.chains_yaml(chain_id))
            chain = build_chains(s, get_plugin_manager(s))[f"{self.name}-chain"]
            assert type(chain) is self.adapter and chain.confirmations == self.default_confirmations

    def test_a_chains_file_without_block_time_takes_the_adapters_or_names_the_key(self, tmp_path):
        text = "\n".join(line for line in self.chains_yaml(self.chain_ids[0]).splitlines()
                         if "block_time_s" not in line) + "\n"
        s = self.settings(tmp_path, chains_yaml=text)
        if self.default_block_time_s is None:
            with pytest.raises(ConfigError) as info:
                build_chains(s, get_plugin_manager(s))
            assert f"{self.name}-chain.block_time_s" in str(info.value)
        else:
            chain = build_chains(s, get_plugin_manager(s))[f"{self.name}-chain"]
            assert chain.config.block_time_s == self.default_block_time_s

    def test_chains_file_with_a_foreign_chain_id_is_refused(self, tmp_path):
        s = self.settings(tmp_path, chains_yaml=self.chains_yaml(FOREIGN_CHAIN_ID))
        with pytest.raises(ConfigError) as info:
            build_chains(s, get_plugin_manager(s))
        said = str(info.value)
        assert f"{self.name}-chain.chain_id" in said and f"not {FOREIGN_CHAIN_ID}" in said
        assert ", ".join(map(str, self.chain_ids)) in said

    def test_chains_file_naming_a_disabled_plugin_is_refused(self, tmp_path):
        other = "anvil" if self.name != "anvil" else "ethereum"
        s = self.settings(tmp_path, enabled=[other], chains_yaml=self.chains_yaml(self.chain_ids[0]))
        with pytest.raises(ConfigError) as info:
            build_chains(s, get_plugin_manager(s))
        assert f"'{self.name}'" in str(info.value) and "plugins.enabled" in str(info.value)

    def test_confirmations_default_and_override(self):
        assert self.adapter(self.config(OFFLINE_URL)).confirmations == self.default_confirmations
        assert self.adapter(self.config(OFFLINE_URL, confirmations=40)).confirmations == 40
        assert self.adapter(self.config(OFFLINE_URL, confirmations="finalized")).confirmations == "finalized"

    # -- against a real node of its testnet's chain id ------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def testnet_node(cls) -> Iterator[AnvilNode]:
        node = AnvilNode.start(chain_id=cls.chain_ids[-1])
        if cls.l1_fee_oracle is not None:  # an OP-stack chain: its oracle predeploy, as the real chain has
            install_gas_price_oracle(node.rpc_url, L1_FEE_PER_BYTE)
        yield node
        node.stop()

    @pytest.fixture
    async def testnet_chain(self, testnet_node) -> Any:
        adapter = self.adapter(self.config(testnet_node.rpc_url, chain_id=self.chain_ids[-1]),
                               retry=RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.01))
        yield adapter
        await adapter.close()

    async def test_fee_quote_from_a_node_follows_the_fee_model(self, testnet_chain, testnet_node):
        await testnet_chain.verify_chain_id()
        quote = await testnet_chain.fee_quote()
        assert quote.model == self.fee_model
        if self.fee_model == "legacy":
            assert quote.gas_price == int(testnet_node.rpc("eth_gasPrice"), 16) > 0
            assert quote.max_fee_per_gas is None and quote.max_priority_fee_per_gas is None
            assert quote.worst_case_per_gas == quote.gas_price
        else:
            base_fee = int(testnet_node.rpc("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
            assert quote.gas_price is None and quote.max_priority_fee_per_gas > 0
            assert quote.max_fee_per_gas >= 2 * base_fee
            assert quote.worst_case_per_gas == quote.max_fee_per_gas
        if self.l1_fee_oracle is None:
            assert quote.l1_fee == 0
        else:  # the oracle's price of the widest sweep transaction, reserved L1_FEE_MARGIN times
            assert quote.l1_fee == L1_FEE_MARGIN * len(probe(self.chain_ids[-1])) * L1_FEE_PER_BYTE
        assert quote.worst_case_cost(21_000) == 21_000 * quote.worst_case_per_gas + quote.l1_fee

    async def test_a_node_of_another_chain_id_is_a_mismatch(self, testnet_node):
        """Mainnet configured against the testnet's node (or, with one chain id, any other id)."""
        configured = self.chain_ids[0] if len(self.chain_ids) > 1 else FOREIGN_CHAIN_ID
        adapter = self.adapter(self.config(testnet_node.rpc_url, chain_id=configured))
        try:
            with pytest.raises(ChainIdMismatch) as info:
                await adapter.verify_chain_id()
            said = str(info.value)
            assert f"chain_id {configured} " in said and f"answers {self.chain_ids[-1]}" in said
        finally:
            await adapter.close()
