"""What CLI commands share: settings loaded on demand per command, checked for the command's role."""

from __future__ import annotations

from ctrip_core.config import Settings, load_settings
from ctrip_core.runtime import Role, check_role


def settings_for(role: Role = "cli") -> Settings:
    """Load settings; roles that must never hold the mnemonic (api, scanner) refuse it here."""
    settings = load_settings()
    check_role(settings, role)
    return settings
