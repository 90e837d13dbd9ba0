"""Async engines and sessions for PostgreSQL (asyncpg) and SQLite (aiosqlite).

SQLite needs per-connection setup to behave like a server database: foreign keys are off unless
asked for, the default rollback journal blocks readers while anyone writes (WAL does not), and
without a busy timeout a second writer fails at once with "database is locked" instead of waiting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

#: How long an SQLite writer waits for the lock: the embedded default runs the API and the jobs in
#: one process over several connections, and waiting beats failing a payment.
SQLITE_BUSY_TIMEOUT_MS = 30_000

#: PostgreSQL connections a process keeps open once it has needed them, and none beyond. SQLAlchemy's
#: default (5 kept, 10 more for a burst) has the same ceiling of 15, but an API worker serving more
#: than 5 concurrent requests closed each surplus connection on return and opened a new one for the
#: next request (TCP, TLS attempt, startup, type introspection, statements prepared again). Keeping
#: all 15 costs PostgreSQL a few idle backends; requests beyond 15 wait for one, as they did before.
PG_POOL_SIZE = 15
PG_MAX_OVERFLOW = 0


def create_engine(url: str | URL, *, foreign_keys: bool = True, **kwargs: Any) -> AsyncEngine:
    """Create the async engine for url; on SQLite, prepare the file and every connection.

    foreign_keys=False is for migrations only: SQLite batch mode recreates tables, and dropping a
    referenced table with enforcement on would cascade or fail. Extra kwargs go to
    create_async_engine (e.g. poolclass, pool_size); PostgreSQL pools default to PG_POOL_SIZE.
    Bound parameters are hidden from error messages (they carry secrets, order ids, addresses);
    what a driver's own message quotes is left out of logs by ctrip_core.logs.
    """
    url = make_url(url)
    kwargs.setdefault("hide_parameters", True)
    if url.get_backend_name() == "postgresql" and "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", PG_POOL_SIZE)
        kwargs.setdefault("max_overflow", PG_MAX_OVERFLOW)
    engine = create_async_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        _ensure_sqlite_folder(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(foreign_keys))
        if foreign_keys:  # application engines; migrations manage their own transactions
            _begin_immediate(engine)
    return engine


def _begin_immediate(engine: AsyncEngine) -> None:
    """Start every SQLite transaction as a writer (BEGIN IMMEDIATE).

    A deferred transaction that reads and then writes fails at once with "database is locked"
    when another writer committed in between (WAL snapshot), and busy_timeout cannot help it.
    Taking the write lock up front makes concurrent writers queue instead; SQLAlchemy's
    documented recipe (driver in autocommit, BEGIN emitted by us).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (async code cannot lazy-refresh them)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for read-only work (GET routes, the checkout).

    On PostgreSQL they run in autocommit, sparing the BEGIN and ROLLBACK round trips a read
    would otherwise pay. What they see is the same: under READ COMMITTED each statement takes
    its own snapshot inside a transaction too. Never write through one. SQLite keeps ordinary
    sessions.
    """
    if engine.dialect.name != "postgresql":
        return session_factory(engine)
    return session_factory(engine.execution_options(isolation_level="AUTOCOMMIT"))


def _ensure_sqlite_folder(url: URL) -> None:
    """Create the folder of an SQLite file, so a fresh checkout's `.ctrip/ctrip.db` just works."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(foreign_keys: bool):
    """A connect listener applying the pragmas every SQLite connection needs."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    return on_connect
