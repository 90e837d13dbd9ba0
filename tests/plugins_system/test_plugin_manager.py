"""The plugin manager: entry points at startup, `plugins.enabled`, core plugins, registration checks."""

from types import SimpleNamespace

import pluggy
import pytest

from ctrip_core import hookspecs
from ctrip_core.chains import EVMChain
from ctrip_core.config import ConfigError, load_settings
from ctrip_core.devnet.accounts import ANVIL_XPUB
from ctrip_core.matching import Matcher
from ctrip_core.notifiers import Notifier
from ctrip_core.preflight import check_gas_tanks
from ctrip_core.wallet import AddressDeriver
from ctrip_core.plugins import (address_deriver, collect_chain_adapters, collect_matchers, collect_notifiers,
                                get_plugin_manager, installed_plugins)


def settings(**overrides):
    return load_settings("testing", **overrides)


def test_every_hook_has_the_project_prefix_and_a_docstring():
    specs = [name for name in dir(hookspecs) if name.startswith("ctrip_")]
    assert len(specs) == 5
    for name in specs:
        doc = getattr(hookspecs, name).__doc__
        assert doc and ":return:" in doc and "Called" in doc, name


def test_core_and_chain_plugins_are_registered_from_entry_points():
    pm = get_plugin_manager(settings())
    names = {name for name, _ in pm.list_name_plugin()}
    assert {"native", "erc20", "hd_wallet", "webhook", "anvil", "bsc", "ethereum"} <= names


def test_plugins_enabled_limits_outside_plugins_but_never_core_ones():
    pm = get_plugin_manager(settings(plugins={"enabled": ["bsc"]}))
    assert set(collect_chain_adapters(pm)) == {"bsc"}
    assert {m.kind for m in collect_matchers(pm)} == {"native", "erc20", "internal"}
    states = {p.name: p.enabled for p in installed_plugins(settings(plugins={"enabled": ["bsc"]}))}
    assert states["bsc"] and not states["anvil"] and states["native"]


def test_enabling_an_uninstalled_plugin_is_a_config_error_naming_it():
    with pytest.raises(ConfigError) as err:
        get_plugin_manager(settings(plugins={"enabled": ["solana"]}))
    assert err.value.where == "plugins.enabled" and "solana" in err.value.message


def test_core_matchers_notifier_and_deriver_come_through_hooks():
    s = settings(wallet={"xpub": ANVIL_XPUB})
    pm = get_plugin_manager(s)
    assert all(isinstance(m, Matcher) for m in collect_matchers(pm))
    assert [n.name for n in collect_notifiers(pm, s)] == ["webhook"]
    assert address_deriver(pm, s).derive(0) == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_missing_xpub_is_a_config_error():
    pm = get_plugin_manager(settings())
    with pytest.raises(ConfigError, match="wallet.xpub"):
        address_deriver(pm, settings())


def test_a_plugin_deriver_wins_over_the_core_one():
    class Fixed:
        @hookspecs.hookimpl
        def ctrip_address_deriver(self, settings):
            return type("D", (AddressDeriver,), {"derive": lambda self, i: f"addr{i}"})()

    pm = get_plugin_manager(settings())
    pm.register(Fixed())
    assert address_deriver(pm, settings()).derive(3) == "addr3"


def test_a_deriver_that_is_not_an_address_deriver_is_refused():
    class Loose:
        @hookspecs.hookimpl
        def ctrip_address_deriver(self, settings):
            return type("D", (), {"derive": lambda self, i: f"addr{i}"})()

    pm = get_plugin_manager(settings())
    pm.register(Loose())
    with pytest.raises(TypeError, match="AddressDeriver"):
        address_deriver(pm, settings())


def test_a_deriver_without_paths_skips_the_gas_tank_check():
    deriver = type("D", (AddressDeriver,), {"derive": lambda self, i: f"addr{i}"})()
    assert deriver.derive_path("not a path") is None
    chain = SimpleNamespace(gas_tank="not a path")  # an xpub deriver's check refuses it
    check_gas_tanks(settings(), deriver, {"anvil": chain})  # no ConfigError: no path to check


def test_registering_an_adapter_twice_fails_loudly():
    class Dup:
        @hookspecs.hookimpl
        def ctrip_register_chain_adapters(self, register):
            register("anvil", type("X", (EVMChain,), {}))

    pm = get_plugin_manager(settings())
    pm.register(Dup())
    with pytest.raises(ValueError, match="registered twice"):
        collect_chain_adapters(pm)


def test_a_non_adapter_class_is_refused():
    class Bad:
        @hookspecs.hookimpl
        def ctrip_register_chain_adapters(self, register):
            register("bad", object)

    pm = get_plugin_manager(settings())
    pm.register(Bad())
    with pytest.raises(TypeError, match="EVMChain"):
        collect_chain_adapters(pm)


def test_a_misspelled_hook_fails_check_pending():
    class Typo:
        @hookspecs.hookimpl
        def ctrip_register_chain_adaptors(self, register):
            pass

    pm = get_plugin_manager(settings())
    pm.register(Typo())
    with pytest.raises(pluggy.PluginValidationError):
        pm.check_pending()


def test_notifiers_must_be_notifier_instances():
    class Bad:
        @hookspecs.hookimpl
        def ctrip_register_notifiers(self, register):
            register(object())

    pm = get_plugin_manager(settings())
    pm.register(Bad())
    with pytest.raises(TypeError, match=Notifier.__name__):
        collect_notifiers(pm, settings())


def test_building_the_manager_does_not_happen_at_import():
    import importlib

    import ctrip_core.plugins as plugins_module

    importlib.reload(plugins_module)
    assert not any(isinstance(v, pluggy.PluginManager) for v in vars(plugins_module).values())
