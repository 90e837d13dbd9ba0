"""Where a new payment is written: the one seam between the services and the hot path's storage.

Creating a payment is the API's hottest write, and on PostgreSQL it runs on machinery of its own:
a pool of raw autocommit connections (db/hot_pool.py), statements sent to the driver directly
(db/hot_statements.py), inserts of concurrent requests coalesced into one statement
(db/payment_insert.py) and derivation indexes drawn 20 at a time (db/allocation.py `IndexBlocks`).
SQLite (and any other database) has none of it: an index from the counter row and two INSERTs in
one ordinary transaction. `payment_writer_for` picks one of the two once, when the runtime is built
(ctrip_core/runtime.py); the services see only `PaymentWriter`, and no code outside this module and
the ones it composes asks which database it is talking to on the way to a new payment.

Both write the same rows with the same guarantees: an index is never handed out twice, and the
address and the payment land together or not at all. Given a session (`within`, the request's
transaction an Idempotency-Key opens, or a test's), the write joins its transaction and commits
with it; without one the writer commits it itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from ctrip_core.db.allocation import BLOCK, IndexBlocks, allocate_from_counter
from ctrip_core.db.engine import PG_POOL_SIZE
from ctrip_core.db.hot_pool import HotPool
from ctrip_core.db.hot_statements import HotStatement
from ctrip_core.db.payment_insert import (
    NewPayment,
    insert_coalesced,
    insert_in_one_statement,
    insert_in_two_statements,
)

#: Makes the payment that will have this derivation index (its deposit address derives from it).
PaymentAt = Callable[[int], NewPayment]


class PaymentWriter(ABC):
    """Hands out derivation indexes and inserts new payments with their deposit addresses."""

    @abstractmethod
    async def next_index(self, within: AsyncSession) -> int:
        """A derivation index no other call, in any process, has returned; `within`'s transaction
        holds it where the database needs one to (SQLite)."""

    @abstractmethod
    async def create(self, payment_at: PaymentAt, *, within: AsyncSession | None = None) -> NewPayment:
        """Draw an index, make `payment_at(index)`, insert it with its address atomically; → the payment."""

    @abstractmethod
    async def read(self, statement: HotStatement, params: dict[str, Any]) -> Any:
        """`statement`'s first row (a tuple of its columns) or None, read on its own outside any
        transaction, on the writer's connections: the API key check a create starts with when the key
        cache misses (api/auth.py), which without Redis is every request."""

    async def close(self) -> None:
        """Release what the writer holds (connections of its own)."""


class PostgresPaymentWriter(PaymentWriter):
    """PostgreSQL's fast path: outside a transaction each create is one statement on the `HotPool`
    (autocommit, so it commits on its own), coalesced with concurrent ones; its index usually costs
    no round trip (`IndexBlocks`)."""

    def __init__(self, engine: AsyncEngine, *, index_block: int = BLOCK):
        #: The raw autocommit connections creates run on outside a transaction (opened on demand).
        self.pool = HotPool(engine, PG_POOL_SIZE)
        self._indexes = IndexBlocks(index_block)

    async def next_index(self, within: AsyncSession) -> int:
        return await self._indexes.next(await within.connection())

    async def create(self, payment_at: PaymentAt, *, within: AsyncSession | None = None) -> NewPayment:
        if within is None:
            payment = payment_at(await self._indexes.next(self.pool))
            await insert_coalesced(self.pool, payment)
            return payment
        conn = await within.connection()
        payment = payment_at(await self._indexes.next(conn))
        await insert_in_one_statement(conn, payment)
        return payment

    async def read(self, statement: HotStatement, params: dict[str, Any]) -> Any:
        return await statement.first(self.pool, params)

    async def close(self) -> None:
        await self.pool.close()


class SessionPaymentWriter(PaymentWriter):
    """Any other database (SQLite): the counter row and two INSERTs in one transaction, the session's
    or, without one, a transaction of the writer's own committed when the insert succeeds."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def next_index(self, within: AsyncSession) -> int:
        return await allocate_from_counter(await within.connection())

    async def create(self, payment_at: PaymentAt, *, within: AsyncSession | None = None) -> NewPayment:
        if within is not None:
            return await self._write(await within.connection(), payment_at)
        async with self._engine.begin() as conn:
            return await self._write(conn, payment_at)

    async def read(self, statement: HotStatement, params: dict[str, Any]) -> Any:
        async with self._engine.connect() as conn:
            return await statement.first(conn, params)

    @staticmethod
    async def _write(conn: AsyncConnection, payment_at: PaymentAt) -> NewPayment:
        payment = payment_at(await allocate_from_counter(conn))
        await insert_in_two_statements(conn, payment)
        return payment


def payment_writer_for(engine: AsyncEngine, *, index_block: int = BLOCK) -> PaymentWriter:
    """The writer for the engine's database: the one place the hot path asks which it is.

    `index_block`: indexes a PostgreSQL process reserves per round trip (tests make it small)."""
    if engine.dialect.name == "postgresql":
        return PostgresPaymentWriter(engine, index_block=index_block)
    return SessionPaymentWriter(engine)
