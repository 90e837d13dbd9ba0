"""What CTRIP_ENV=production refuses because it belongs only in development or tests.

The well-known test wallets (Anvil's `test … junk` mnemonic, the BIP-39 `abandon … about` vector
the tests and `ctrip dev` use) and their xpubs: anyone holds their keys, so a deposit to them is
anyone's. The `anvil` chain adapter. Webhook deliveries to private addresses. SQLite, unless
`database_allow_sqlite` says it is meant. Each is a ConfigError naming the key.
"""

from __future__ import annotations

from pathlib import Path

from ctrip_core.config.database_url import is_sqlite
from ctrip_core.config.errors import ConfigError
from ctrip_core.devnet.accounts import ANVIL_MNEMONIC, ANVIL_XPUB, GATEWAY_MNEMONIC, GATEWAY_XPUB

DEVELOPMENT_ADAPTERS = ("anvil",)


def check_production_settings(settings) -> None:
    """Raise ConfigError on the first development-only setting (settings of CTRIP_ENV=production)."""
    wallet = settings.wallet
    if wallet.mnemonic is not None and " ".join(wallet.mnemonic.get_secret_value().split()) in (
            ANVIL_MNEMONIC, GATEWAY_MNEMONIC):
        raise ConfigError("wallet.mnemonic", "is a well-known test mnemonic (everyone has its keys); "
                                             "production refuses it: generate your own")
    if wallet.xpub is not None and wallet.xpub.get_secret_value().strip() in (ANVIL_XPUB, GATEWAY_XPUB):
        raise ConfigError("wallet.xpub", "is the xpub of a well-known test mnemonic (everyone has its keys); "
                                         "production refuses it: use your own wallet's xpub")
    if settings.webhooks.allow_private_targets:
        raise ConfigError("webhooks.allow_private_targets", "must be false in production "
                                                            "(webhooks to private addresses reach your own network)")
    if is_sqlite(settings.database_url) and not settings.database_allow_sqlite:
        raise ConfigError("database_url", "is SQLite, refused in production: use PostgreSQL, "
                                          "or set database_allow_sqlite = true if a single-process SQLite "
                                          "deployment is meant")


def check_production_chain(name: str, adapter: str, chains_file: Path) -> None:
    if adapter in DEVELOPMENT_ADAPTERS:
        raise ConfigError(f"{chains_file}: {name}.adapter",
                          f"{adapter!r} is a development chain; production refuses it")
