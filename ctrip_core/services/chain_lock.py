"""One scanner (or confirmer) per chain at a time, across processes and hosts.

PostgreSQL: a transaction-scoped advisory lock, released by commit or rollback, so a killed
worker can never leave it held. SQLite: every write transaction starts with BEGIN IMMEDIATE
(see db/engine.py), which already serializes whole scan steps, so no extra lock is needed.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


def _lock_key(purpose: str, chain: str) -> int:
    digest = hashlib.sha256(f"ctrip:{purpose}:{chain}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def try_chain_lock(session: AsyncSession, purpose: str, chain: str) -> bool:
    """True when this transaction now owns (purpose, chain); False when another one does."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    result = await session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"),
                                   {"key": _lock_key(purpose, chain)})
    return bool(result.scalar_one())
