"""The core's `hd_wallet` plugin: deposit addresses from `wallet.xpub` (BIP-44, m/44'/60'/0'/0/i)."""

from __future__ import annotations

from ctrip_core.config import ConfigError
from ctrip_core.hookspecs import hookimpl
from ctrip_core.wallet import WalletError, XpubDeriver


@hookimpl(trylast=True)
def ctrip_address_deriver(settings):
    if settings.wallet.xpub is None:
        raise ConfigError("wallet.xpub", "is not set (CTRIP_WALLET__XPUB); `ctrip wallet xpub` prints it")
    try:
        return XpubDeriver(settings.wallet.xpub.get_secret_value())
    except WalletError as exc:
        raise ConfigError("wallet.xpub", str(exc).removeprefix("wallet.xpub ")) from None
