"""Scratch PostgreSQL databases for the tests and the benches: a new one under a random name,
dropped by name with every connection to it.

One helper, so that each caller does not spell its own CREATE DATABASE, admin connection and URL.
Synchronous, so that fixtures and scripts call it alike: inside a running event loop the admin
statement runs on a thread of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import asyncpg
from sqlalchemy.engine import make_url

from ctrip_core.db import migrate


def create_database(admin_dsn: str, *, prefix: str = "ctrip_test", migrated: bool = True) -> str:
    """A new database on the server of `admin_dsn` (a libpq URL with the right to create one), migrated
    unless told; → its SQLAlchemy asyncpg URL. Callers drop it with `drop_database`."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_fetch(admin_dsn, f'CREATE DATABASE "{name}"')
    url = make_url(admin_dsn).set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False)
    if migrated:
        migrate.upgrade(url)
    return url


def drop_database(admin_dsn: str, url: str) -> None:
    """Drop the database of `url` (any driver), closing the connections still open to it."""
    admin_fetch(admin_dsn, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def admin_fetch(admin_dsn: str, sql: str, *args):
    """Run one statement on `admin_dsn`'s own connection; → the first value of its first row (or None)."""
    async def fetch():
        conn = await asyncpg.connect(admin_dsn)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(fetch())
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(fetch())).result()
