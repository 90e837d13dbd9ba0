"""Runs the Alembic migrations from Python, for `ctrip db`, `ctrip dev` and tests.

The functions are synchronous because Alembic is, but alembic/env.py drives an async engine with
asyncio.run(), which refuses to start inside a running event loop. So when one is running (an
async test, a Quart startup hook) the work goes to a worker thread with its own loop, and the
caller blocks until it is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import pool
from sqlalchemy.engine import URL

import ctrip_core
from ctrip_core.db.engine import create_engine

#: The repository root, which holds alembic.ini and the alembic/ scripts folder.
REPO_ROOT = Path(ctrip_core.__file__).resolve().parents[1]

T = TypeVar("T")


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at url up to revision (default: the newest)."""
    _outside_event_loop(lambda: command.upgrade(alembic_config(url), revision))


def downgrade(url: str | URL, revision: str) -> None:
    """Migrate the database at url down to revision ("base" empties it)."""
    _outside_event_loop(lambda: command.downgrade(alembic_config(url), revision))


def current(url: str | URL) -> str | None:
    """The revision the database at url is at; None for a database never migrated."""
    return _outside_event_loop(lambda: asyncio.run(_current_revision(url)))


def alembic_config(url: str | URL) -> Config:
    """An Alembic config for this repository's scripts, migrating url, leaving logging alone."""
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "alembic"))
    config.attributes["database_url"] = url
    config.attributes["keep_logging"] = True
    return config


async def _current_revision(url: str | URL) -> str | None:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


def _outside_event_loop(work: Callable[[], T]) -> T:
    """Run work here, or in a worker thread if this thread is running an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ctrip-migrate") as executor:
        return executor.submit(work).result()


class DatabaseNotMigrated(RuntimeError):
    """The database is not at the newest revision: processes refuse to run on an old schema."""


def head() -> str:
    """The newest revision among the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def require_head(url: str | URL) -> None:
    """Raise DatabaseNotMigrated unless the database at url is at head."""
    at = current(url)
    if at != head():
        raise DatabaseNotMigrated(f"database is at revision {at or 'base'}, not {head()}; run `ctrip db upgrade`")
