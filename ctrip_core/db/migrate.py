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
from ctrip_core.config.database_url import shown_database
from ctrip_core.config.errors import ServiceUnavailable
from ctrip_core.db.engine import create_engine

#: The repository root, which holds alembic.ini and the alembic/ scripts folder.
REPO_ROOT = Path(ctrip_core.__file__).resolve().parents[1]

T = TypeVar("T")

#: Seconds a start-up check waits for the database to accept a connection.
CONNECT_TIMEOUT_S = 5


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at url up to revision (default: the newest); DatabaseUnreachable first."""
    current(url)
    _outside_event_loop(lambda: command.upgrade(alembic_config(url), revision))


def downgrade(url: str | URL, revision: str) -> None:
    """Migrate the database at url down to revision ("base" empties it); DatabaseUnreachable first."""
    current(url)
    _outside_event_loop(lambda: command.downgrade(alembic_config(url), revision))


def current(url: str | URL) -> str | None:
    """The revision the database at url is at; None for a database never migrated.

    Raises DatabaseUnreachable, naming `database_url`, when no connection opens within CONNECT_TIMEOUT_S.
    """
    return _outside_event_loop(lambda: asyncio.run(_current_revision(url)))


class DatabaseUnreachable(ServiceUnavailable):
    """No connection to `database_url` (down, wrong host or port, wrong password, no such database)."""

    def __init__(self, url: str | URL, reason: str):
        super().__init__("database_url", f"cannot connect to {shown_database(url)} ({reason}); "
                                         "check that the database is running and the URL is right")


def alembic_config(url: str | URL) -> Config:
    """An Alembic config for this repository's scripts, migrating url, leaving logging alone."""
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "alembic"))
    config.attributes["database_url"] = url
    config.attributes["keep_logging"] = True
    return config


async def _current_revision(url: str | URL) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    postgres = make_url(url).get_backend_name() == "postgresql"
    engine = create_engine(url, poolclass=pool.NullPool,
                           connect_args={"timeout": CONNECT_TIMEOUT_S} if postgres else {})
    try:
        try:
            connection = await asyncio.wait_for(engine.connect().start(), CONNECT_TIMEOUT_S + 1)
        except (OSError, DBAPIError, asyncio.TimeoutError) as exc:
            raise DatabaseUnreachable(url, _reason(exc)) from None
        except Exception as exc:  # noqa: BLE001 - asyncpg's own errors (bad password, no such database)
            if type(exc).__module__.startswith("asyncpg"):
                raise DatabaseUnreachable(url, _reason(exc)) from None
            raise
        try:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
        finally:
            await connection.close()
    finally:
        await engine.dispose()


def _reason(exc: BaseException) -> str:
    """A driver's connect error in a few words (never the URL or its password)."""
    orig = getattr(exc, "orig", None) or exc
    if isinstance(orig, asyncio.TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_S} s"
    if isinstance(orig, OSError) and orig.strerror:
        return orig.strerror
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return first[:200]


def _outside_event_loop(work: Callable[[], T]) -> T:
    """Run work here, or in a worker thread if this thread is running an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ctrip-migrate") as executor:
        return executor.submit(work).result()


class DatabaseNotMigrated(ServiceUnavailable):
    """The database is not at the newest revision: processes refuse to run on an old schema."""


def head() -> str:
    """The newest revision among the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def require_head(url: str | URL) -> None:
    """Raise DatabaseNotMigrated unless the database at url is at head."""
    at = current(url)
    if at != head():
        raise DatabaseNotMigrated("database_url", f"database at {shown_database(url)} is at revision "
                                                  f"{at or 'base'} (not migrated to {head()}): run `ctrip db upgrade`")
