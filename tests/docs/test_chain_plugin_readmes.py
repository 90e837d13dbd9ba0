"""Each bundled chain plugin's README gives a mainnet `chains.yaml` entry; it builds with that adapter.

The entry leaves `block_time_s` and `confirmations` to the adapter, so building it also proves the
adapter's defaults fill them; token addresses must be EIP-55 checksummed (a typo fails the checksum).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from eth_utils import is_checksum_address

from ctrip_core.chains.registry import build_chains
from ctrip_core.config import load_settings
from ctrip_core.plugins import get_plugin_manager

PLUGINS = Path(__file__).parents[2] / "plugins"
#: The bundled plugins that are no public chain: the dev chain, and the SMTP notifier.
NOT_PUBLIC_CHAINS = {"ctrip_anvil", "ctrip_notify_smtp"}
READMES = sorted(p for p in PLUGINS.glob("ctrip_*/README.md") if p.parent.name not in NOT_PUBLIC_CHAINS)


def test_every_public_chain_plugin_has_a_readme():
    assert {p.parent.name for p in READMES} == {
        "ctrip_ethereum", "ctrip_bsc", "ctrip_polygon", "ctrip_base", "ctrip_arbitrum", "ctrip_optimism"}


@pytest.mark.parametrize("readme", READMES, ids=lambda p: p.parent.name)
def test_the_readmes_chains_yaml_entry_builds_with_its_adapter(readme, tmp_path, monkeypatch):
    (entry,) = re.findall(r"```yaml\n(.*?)```", readme.read_text(), re.S)
    for var in set(re.findall(r"\$\{(\w+)\}", entry)):
        monkeypatch.setenv(var, "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720" if var.endswith("TREASURY")
                           else "https://node.example.invalid")
    (tmp_path / "chains.yaml").write_text(entry)
    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'ctrip.db'}",
                             chains_file=str(tmp_path / "chains.yaml"))
    (chain,) = build_chains(settings, get_plugin_manager(settings)).values()
    name = readme.parent.name.removeprefix("ctrip_")
    assert chain.name == name and chain.config.chain_id == chain.chain_ids[0]
    assert chain.config.block_time_s == chain.default_block_time_s
    assert chain.confirmations == chain.default_confirmations
    assert {t.symbol for t in chain.config.tokens} == {"USDC", "USDT"}
    assert all(is_checksum_address(t.address) for t in chain.config.tokens)
    assert all(t.decimals == (18 if name == "bsc" else 6) for t in chain.config.tokens)
