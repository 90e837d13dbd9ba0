"""The hooks a cTrip plugin can implement.

A plugin is a module (or object) with functions named like the specs below, decorated with
`ctrip_core.hookspecs.hookimpl`, and declared under the `ctrip` entry-point group of its package.
Hooks are cheap and synchronous: they hand the core *objects* (adapter classes, matchers,
derivers, notifiers) whose async methods do the I/O. Validation and de-duplication stay in the
core: plugins call the `register` callback they are given and never touch a registry directly.

An implementation may accept fewer arguments than its spec; arguments may be added to a spec
later but never renamed.
"""

from __future__ import annotations

import pluggy

PROJECT = "ctrip"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def ctrip_register_chain_adapters(register):
    """Register chain adapter classes under an adapter name.

    Called once when the plugin manager is built, before any chain is configured.

    :param register: ``register(name, adapter_class)``. ``name`` is what ``adapter:`` in
        ``chains.yaml`` refers to (by convention the plugin's entry-point name); ``adapter_class``
        is a subclass of :class:`ctrip_core.chains.EVMChain`. Registering a name twice is an error.
    :return: nothing; all implementations are called.
    """


@hookspec(firstresult=True)
def ctrip_address_deriver(settings):
    """Return the object that turns a derivation index into a deposit address.

    Called once per process that allocates or watches deposit addresses (API, scanner, dev).

    :param settings: the loaded :class:`ctrip_core.config.Settings`.
    :return: an instance of a :class:`ctrip_core.wallet.AddressDeriver` subclass
        (``derive(index) -> address``; ``derive_path(path)`` defaults to ``None``, no paths), or
        ``None`` to let another plugin answer. Stops at first non-None result; the core's
        ``hd_wallet`` plugin (xpub, BIP-44 ``m/44'/60'/0'/0/i``) answers last.
    """


@hookspec
def ctrip_register_matchers(register):
    """Register transfer matchers: what counts as a payment in a scanned block range.

    Called once when the plugin manager is built. The core registers ``native`` (value transfers
    in full blocks) and ``erc20`` (``Transfer`` logs of configured tokens) this way.

    :param register: ``register(matcher)`` where ``matcher`` is a
        :class:`ctrip_core.matching.Matcher` with a unique ``kind``.
    :return: nothing; all implementations are called.
    """


@hookspec
def ctrip_register_notifiers(register, settings):
    """Register notifiers that receive every payment event.

    Called once per process that delivers events (the webhook worker, ``ctrip dev``).

    :param register: ``register(notifier)`` where ``notifier`` is a
        :class:`ctrip_core.notifiers.Notifier` with a unique ``name``.
    :param settings: the loaded :class:`ctrip_core.config.Settings`, so a notifier can stay
        silent unless configured.
    :return: nothing; all implementations are called.
    """


@hookspec
def ctrip_register_rate_providers(register, settings, chains):
    """Register rate providers: where a price in a quote currency (USD, EUR) gets its rate.

    Called once per process that quotes prices (the API, ``ctrip dev``). The core registers
    ``fixed`` (pegs stated in ``chains.yaml``), ``coinbase`` and ``kraken`` this way;
    ``rates.providers`` chooses which are asked, in order.

    :param register: ``register(provider)`` where ``provider`` is a
        :class:`ctrip_core.pricing.RateProvider` with a unique ``name``.
    :param settings: the loaded :class:`ctrip_core.config.Settings` (``settings.rates``).
    :param chains: the configured chains, :class:`ctrip_core.chains.EVMChain` objects (``.config``
        is the ``chains.yaml`` entry; their node is the one a feed on that chain is read through).
    :return: nothing; all implementations are called.
    """
