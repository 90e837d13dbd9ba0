"""Build the plugin manager from the `ctrip` entry-point group, at startup and never at import time.

Plugins of the `ctrip-core` distribution (matchers, HD wallet, webhook notifier) are always
enabled; every other installed plugin is enabled when `plugins.enabled` is empty or names it.
The `register` callbacks handed to plugins check names here, so plugins never touch a registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from ctrip_core import hookspecs
from ctrip_core.config import ConfigError, Settings

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
    from ctrip_core.chains import EVMChain

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
    from ctrip_core.matching import Matcher

    return _collect(pm.hook.ctrip_register_matchers, Matcher, "kind")


def collect_notifiers(pm: pluggy.PluginManager, settings: Settings) -> list:
    """Every registered notifier, unique by `name`."""
    from ctrip_core.notifiers import Notifier

    return _collect(pm.hook.ctrip_register_notifiers, Notifier, "name", settings=settings)


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


def address_deriver(pm: pluggy.PluginManager, settings: Settings):
    """The deposit-address deriver (first plugin to answer wins; the core's xpub wallet answers last)."""
    return pm.hook.ctrip_address_deriver(settings=settings)
