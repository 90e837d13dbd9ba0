"""Configured chains → adapter instances, checked against the enabled plugins and the nodes.

A chain whose adapter no enabled plugin provides, or whose chain id the adapter does not serve,
is a startup error naming both; so is a node that answers another chain id than configured.
"""

from __future__ import annotations

from pathlib import Path

import pluggy

from ctrip_core.chains.evm import EVMChain
from ctrip_core.config import ChainConfig, ConfigError, Settings, load_chains
from ctrip_core.config.production import check_production_chain
from ctrip_core.plugins import collect_chain_adapters, installed_plugins


def _missing_adapter(settings: Settings, chain: ChainConfig, path: Path) -> ConfigError:
    plugin = next((p for p in installed_plugins(settings) if p.name == chain.adapter), None)
    if plugin is not None and not plugin.enabled:
        why = f"plugin {chain.adapter!r} is installed but not in plugins.enabled"
    else:
        why = f"no installed plugin provides it (pip install the ctrip-{chain.adapter} package)"
    return ConfigError(f"{path}: {chain.name}.adapter", f"chain {chain.name!r} uses adapter {chain.adapter!r}; {why}")


def resolve_adapter(settings: Settings, adapters: dict[str, type], chain: ChainConfig, path: Path) -> type:
    adapter = adapters.get(chain.adapter)
    if adapter is None:
        raise _missing_adapter(settings, chain, path)
    if adapter.chain_ids and chain.chain_id not in adapter.chain_ids:
        served = ", ".join(str(i) for i in adapter.chain_ids)
        raise ConfigError(f"{path}: {chain.name}.chain_id",
                          f"adapter {chain.adapter!r} serves chain ids {served}, not {chain.chain_id}")
    return adapter


def with_adapter_defaults(cfg: ChainConfig, adapter: type[EVMChain], path: Path) -> ChainConfig:
    """`cfg` with what chains.yaml left out taken from the adapter (its block time)."""
    if cfg.block_time_s is not None:
        return cfg
    if adapter.default_block_time_s is None:
        raise ConfigError(f"{path}: {cfg.name}.block_time_s",
                          f"is required: adapter {cfg.adapter!r} has no default block time")
    return cfg.model_copy(update={"block_time_s": adapter.default_block_time_s})


def build_chains(settings: Settings, pm: pluggy.PluginManager, *, on_fault=None) -> dict[str, EVMChain]:
    """One adapter instance per chains.yaml entry (no network yet; processes check each node's chain
    id at start, see `runtime.verify_reachable_chains`).

    `on_fault(chain, url, kind)` is told of every RPC fault, for logs and metrics.
    """
    path = Path(settings.chains_file)
    configs = load_chains(path)
    adapters = collect_chain_adapters(pm)
    chains = {}
    for name, cfg in configs.items():
        if settings.env == "production":
            check_production_chain(name, cfg.adapter, path)
        hook = (lambda url, kind, _name=name: on_fault(_name, url, kind)) if on_fault else None
        adapter = resolve_adapter(settings, adapters, cfg, path)
        chains[name] = adapter(with_adapter_defaults(cfg, adapter, path), on_fault=hook)
    return chains

