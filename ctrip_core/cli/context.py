"""What CLI commands share: settings loaded on demand per command, checked for the command's role,
and one database transaction for a command's work."""

from __future__ import annotations

import asyncio

from ctrip_core.config import Settings, load_settings
from ctrip_core.db import migrate
from ctrip_core.db.engine import create_engine, session_factory
from ctrip_core.runtime import Role, check_role


def settings_for(role: Role = "cli") -> Settings:
    """Load settings; roles that must never hold the mnemonic (api, scanner) refuse it here."""
    settings = load_settings()
    check_role(settings, role)
    return settings


async def in_session(url: str, work):
    """`await work(session)` in one transaction on the database at url, which must be at head."""
    await asyncio.to_thread(migrate.require_head, url)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()
