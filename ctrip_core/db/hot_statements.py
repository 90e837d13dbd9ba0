"""Statements on the API's hot path, defined once as SQLAlchemy Core, sent to asyncpg directly.

Creating a payment ran three statements (the API key lookup, the index allocation, the insert; now
the first two are mostly spared, see api/key_cache.py and db/allocation.py).
Through SQLAlchemy's execution machinery each cost about 115 µs of client CPU where asyncpg alone
needs 35 (a select in a loop on one connection); for a create that was more than PostgreSQL's own
work, and taking the three off it (with faster derivation) raised `bench/api.py`'s creates/s by a
third. A `HotStatement` compiles its statement once per dialect and, on `HotPool` (db/hot_pool.py:
what PostgreSQL's payment writer holds), sends the compiled SQL and the bind values,
converted by the columns' own bind processors, straight to the driver. On a session's or a
connection's transaction (an Idempotency-Key's create), whose bookkeeping SQLAlchemy must keep, it
is an ordinary `conn.execute`.

Rows come back as the driver gives them, so use it only for result columns that need no result
processing (strings, integers); errors are the driver's own exceptions on the fast path, and
HotPool drops a connection such a fault left unusable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from ctrip_core.db.hot_pool import HotPool


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    defaults: dict[str, Any]


class HotStatement:
    """A Core statement, run by `fetch`/`scalar` with named parameters on any connection."""

    def __init__(self, statement: Executable):
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    async def fetch(self, conn: AsyncConnection | HotPool,
                    params: dict[str, Any] | None = None) -> Sequence[Sequence[Any]]:
        """All result rows (empty for a statement returning none)."""
        if isinstance(conn, HotPool):
            return await conn.fetch(*self._driver_args(conn.dialect, params))
        result = await conn.execute(self.statement, params or {})
        return result.all() if result.returns_rows else []

    async def first(self, conn: AsyncConnection | HotPool,
                    params: dict[str, Any] | None = None) -> tuple[Any, ...] | None:
        """The first row as a tuple, or None."""
        rows = await self.fetch(conn, params)
        return tuple(rows[0]) if rows else None

    async def scalar(self, conn: AsyncConnection | HotPool, params: dict[str, Any] | None = None) -> Any:
        """The first column of the first row, or None."""
        row = await self.first(conn, params)
        return row[0] if row else None

    def _driver_args(self, dialect: Dialect, params: dict[str, Any] | None) -> list[Any]:
        """The compiled SQL, then the bind values in order, each through its column's bind processor."""
        compiled = self._compile(dialect)
        values = {**compiled.defaults, **(params or {})}
        return [compiled.sql, *(value if process is None else process(value) for value, process
                                in zip((values[name] for name in compiled.names), compiled.processors))]

    def _compile(self, dialect: Dialect) -> _Compiled:
        if dialect.name not in self._compiled:
            compiled = self.statement.compile(dialect=dialect)
            names = tuple(compiled.positiontup or ())
            binds = compiled.binds
            self._compiled[dialect.name] = _Compiled(
                sql=compiled.string, names=names,
                processors=tuple(binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names),
                defaults={name: bind.value for name, bind in binds.items() if bind.value is not None})
        return self._compiled[dialect.name]
