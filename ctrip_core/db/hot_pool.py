"""The API's hot-path connections on PostgreSQL: raw asyncpg connections in autocommit, pooled lean.

Creating a payment is one statement (db/payment_insert.py) and a cached key's check none; checking a
connection out of SQLAlchemy's pool and back (greenlet switches, pool events, the fairy's
bookkeeping) cost about 150 µs of CPU per request, twice the statement itself, and asyncpg's own
pool about 70 µs (acquire timeouts, futures, its reset round trip). `HotPool` keeps idle asyncpg
connections on a stack and hands them out with no more than a pop and a push.

What it relies on, and checks: every statement run here is a `HotStatement` in autocommit (a single
statement is its own transaction), so a returned connection holds no transaction, lock or session
state to reset. A connection that comes back closed or inside a transaction, or whose block ended
in a cancellation or a driver-level fault (the protocol state is then unknown), is terminated, never
reused; a fresh one is opened on demand. An error the server reported, or the caller's own (a 422
raised while the connection was held), leaves it fine. At most `size` connections exist; further
callers wait for one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

#: Keyword arguments SQLAlchemy's asyncpg dialect adds for its own adapter, not for asyncpg.connect.
_ADAPTER_ONLY = ("async_creator_fn", "prepared_statement_cache_size", "prepared_statement_name_func")


class HotPool:
    """Up to `size` autocommit asyncpg connections to the engine's database, reused LIFO.

    What PostgreSQL's payment writer (db/payment_writer.py) creates payments on: a `HotStatement`
    run on the pool takes a connection for that one statement (autocommit makes statements
    independent anyway), so no request holds a connection while it does anything else.
    """

    def __init__(self, engine: AsyncEngine, size: int):
        args, kwargs = engine.dialect.create_connect_args(engine.url)
        self._connect_args = (args, {k: v for k, v in kwargs.items() if k not in _ADAPTER_ONLY})
        self.dialect = engine.dialect
        self._idle: list[asyncpg.Connection] = []
        self._slots = asyncio.Semaphore(size)
        self._all: set[asyncpg.Connection] = set()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A raw connection for the block; put back, or terminated if the block left it in doubt."""
        async with self._slots:
            driver = self._idle.pop() if self._idle else await self._open()
            try:
                yield driver
            except BaseException as exc:
                self._put_back(driver, reusable=_leaves_connection_sound(exc))
                raise
            self._put_back(driver, reusable=True)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """One statement on a pooled connection."""
        async with self.connection() as conn:
            return await conn.fetch(sql, *args)

    async def commit(self) -> None:
        """Nothing to commit: every statement committed on its own (autocommit)."""

    async def _open(self) -> asyncpg.Connection:
        args, kwargs = self._connect_args
        driver = await asyncpg.connect(*args, **kwargs)
        self._all.add(driver)
        return driver

    def _put_back(self, driver: asyncpg.Connection, *, reusable: bool) -> None:
        """Back on the stack when healthy and idle; else terminated (the next caller opens a new one)."""
        if reusable and not driver.is_closed() and not driver.is_in_transaction():
            self._idle.append(driver)
            return
        self._all.discard(driver)
        driver.terminate()

    async def close(self) -> None:
        connections, self._all, self._idle = list(self._all), set(), []
        await asyncio.gather(*(c.close(timeout=5) for c in connections if not c.is_closed()),
                             return_exceptions=True)

    def __repr__(self) -> str:
        return f"HotPool(open={len(self._all)}, idle={len(self._idle)})"


def _leaves_connection_sound(exc: BaseException) -> bool:
    """A server-reported error or an application exception: yes. Cancellation, timeouts and
    driver or socket faults, after which the protocol may be mid-message: no."""
    if not isinstance(exc, Exception) or isinstance(exc, (asyncio.TimeoutError, OSError)):
        return False
    if isinstance(exc, asyncpg.PostgresError):
        return True
    return not isinstance(exc, (asyncpg.InterfaceError, asyncpg.InternalClientError))
