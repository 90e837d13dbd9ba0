"""One scanner (or confirmer) per chain at a time, across processes and hosts.

PostgreSQL: a transaction-scoped advisory lock, released by commit or rollback, so a killed
worker can never leave it held. SQLite: every write transaction starts with BEGIN IMMEDIATE
(see db/engine.py), which already serializes whole scan steps, so no extra lock is needed.
"""

from __future__ import annotations

import asyncio
import hashlib
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession


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


_process_locks: dict[str, asyncio.Lock] = {}


@asynccontextmanager
async def held_for_pass(engine: AsyncEngine, purpose: str, chain: str):
    """Hold (purpose, chain) across several transactions; yields False when someone else holds it.

    PostgreSQL: a session advisory lock on a connection of its own, released at the end or when
    the process dies (its connection closes). SQLite (one process): an asyncio lock.
    """
    if engine.dialect.name != "postgresql":
        lock = _process_locks.setdefault(f"{purpose}:{chain}", asyncio.Lock())
        if lock.locked():
            yield False
            return
        async with lock:
            yield True
        return
    key = _lock_key(purpose, chain)
    async with engine.connect() as conn:
        got = (await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})).scalar_one()
        await conn.commit()
        try:
            yield bool(got)
        finally:
            if got:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                await conn.commit()
