"""Shared fixtures: a real Anvil node, a real PostgreSQL database and Redis, per test session.

Nothing here mocks the chain or the services: tests that need them fail loudly when they are down.
"""

from __future__ import annotations

import os
import uuid

import pytest

from ctrip_core.devnet.accounts import ANVIL_MNEMONIC, ANVIL_XPUB, FUNDER, FUNDER_KEY  # noqa: F401
from ctrip_core.devnet.anvil import AnvilNode

PG_ADMIN_DSN = os.environ.get("CTRIP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CTRIP_TEST_REDIS", "redis://127.0.0.1:6379/0")

@pytest.fixture(scope="session")
def anvil():
    """One Anvil node for the whole session, on a free port."""
    node = AnvilNode.start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def anvil_mnemonic() -> str:
    return ANVIL_MNEMONIC



@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database for this session (asyncpg URL); dropped at the end."""
    import asyncio

    import asyncpg

    name = f"ctrip_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_URL
