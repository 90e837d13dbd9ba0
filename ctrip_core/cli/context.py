"""What CLI commands share: settings, the plugin manager and chains, built on demand per command."""

from __future__ import annotations

from ctrip_core.config import ConfigError, Settings, load_settings


def settings_for(role: str | None = None) -> Settings:
    """Load settings; roles that must never hold the mnemonic (api, scanner) refuse it here."""
    settings = load_settings()
    if role in ("api", "scanner") and settings.wallet.mnemonic is not None:
        raise ConfigError("wallet.mnemonic", f"must not be set for the {role} process; "
                                             "only a worker serving the sweep queue may hold it")
    return settings
