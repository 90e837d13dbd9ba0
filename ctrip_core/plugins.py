"""Build the plugin manager from the `ctrip` entry-point group, at startup and never at import time.

Plugins of the `ctrip-core` distribution (matchers, HD wallet, webhook notifier) are always
enabled; every other installed plugin is enabled when `plugins.enabled` is empty or names it.
The `register` callbacks handed to plugins check names here, so plugins never touch a registry.

The dependency runs one way: this module imports the base classes it checks registrations
against (`EVMChain`, `Matcher`, `Notifier`, `AddressDeriver`) at top level, and what builds on the plugins
(`chains.registry`, `runtime`) imports this module; no base-class module imports it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from ctrip_core import hookspecs
from ctrip_core.chains import EVMChain
from ctrip_core.config import ConfigError, Settings
from ctrip_core.matching import Matcher
from ctrip_core.notifiers import Notifier
from ctrip_core.pricing.rates import RateProvider
from ctrip_core.wallet import AddressDeriver

ENTRY_POINT_GROUP = "ctrip"
CORE_DISTRIBUTION = "ctrip-core"


@dataclass(frozen=True)
class InstalledPlugin:
    """One entry point of the `ctrip` group, and whether this configuration enables it."""

    name: str
    package: str
    version: str
    core: bool
    enabled: bool
    target: str


def _distribution_name(ep) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "?", "?"
    return dist.metadata["Name"], dist.version


def installed_plugins(settings: Settings) -> list[InstalledPlugin]:
    """Every installed plugin, core first, then by name."""
    wanted = set(settings.plugins.enabled)
    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        package, version = _distribution_name(ep)
        core = package.lower().replace("_", "-") == CORE_DISTRIBUTION
        enabled = core or not wanted or ep.name in wanted
        found.append(InstalledPlugin(ep.name, package, version, core, enabled, ep.value))
    return sorted(found, key=lambda p: (not p.core, p.name))


def _check_enabled_names(settings: Settings, plugins: list[InstalledPlugin]) -> None:
    names = {p.name for p in plugins}
    for name in settings.plugins.enabled:
        if name not in names:
            raise ConfigError("plugins.enabled", f"plugin {name!r} is not installed "
                                                 f"(installed: {', '.join(sorted(names)) or 'none'})")


def get_plugin_manager(settings: Settings) -> pluggy.PluginManager:
    """Specs, then every enabled entry point; fails loudly on unknown names or misspelled hooks."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    plugins = installed_plugins(settings)
    _check_enabled_names(settings, plugins)
    eps = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for plugin in plugins:
        if plugin.enabled:
            pm.register(eps[plugin.name].load(), name=plugin.name)
    pm.check_pending()
    return pm


def collect_chain_adapters(pm: pluggy.PluginManager) -> dict[str, type]:
    """Adapter name → adapter class, from every `ctrip_register_chain_adapters`."""
    adapters: dict[str, type] = {}

    def register(name: str, adapter_class: type) -> None:
        if not (isinstance(adapter_class, type) and issubclass(adapter_class, EVMChain)):
            raise TypeError(f"adapter {name!r} must be a subclass of ctrip_core.chains.EVMChain")
        if name in adapters:
            raise ValueError(f"chain adapter {name!r} is registered twice")
        adapters[name] = adapter_class

    pm.hook.ctrip_register_chain_adapters(register=register)
    return adapters


def collect_matchers(pm: pluggy.PluginManager) -> list:
    """Every registered transfer matcher, unique by `kind`."""
    return _collect(pm.hook.ctrip_register_matchers, Matcher, "kind")


def collect_notifiers(pm: pluggy.PluginManager, settings: Settings) -> list:
    """Every registered notifier, unique by `name`."""
    return _collect(pm.hook.ctrip_register_notifiers, Notifier, "name", settings=settings)


def collect_rate_providers(pm: pluggy.PluginManager, settings: Settings, chains) -> list:
    """The providers `rates.providers` names, in its order (a name no plugin registered: ConfigError).
    `chains`: the runtime's EVMChain objects."""
    registered = {p.name: p for p in _collect(pm.hook.ctrip_register_rate_providers, RateProvider, "name",
                                              settings=settings, chains=list(chains))}
    unknown = [name for name in settings.rates.providers if name not in registered]
    if unknown:
        raise ConfigError("rates.providers", f"no rate provider named {unknown[0]!r} "
                                             f"(registered: {', '.join(sorted(registered)) or 'none'})")
    return [registered[name] for name in settings.rates.providers]


def _collect(hook, base: type, key: str, **kwargs: Any) -> list:
    items: dict[str, Any] = {}

    def register(item) -> None:
        if not isinstance(item, base):
            raise TypeError(f"{item!r} is not a {base.__name__}")
        name = getattr(item, key)
        if not name or name in items:
            raise ValueError(f"{base.__name__} {key} {name!r} is empty or registered twice")
        items[name] = item

    hook(register=register, **kwargs)
    return list(items.values())


def address_deriver(pm: pluggy.PluginManager, settings: Settings) -> AddressDeriver:
    """The deposit-address deriver (first plugin to answer wins; the core's xpub wallet answers last)."""
    deriver = pm.hook.ctrip_address_deriver(settings=settings)
    if not isinstance(deriver, AddressDeriver):
        raise TypeError(f"{deriver!r} is not a ctrip_core.wallet.AddressDeriver")
    return deriver
