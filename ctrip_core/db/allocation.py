"""Hands out HD derivation indexes for deposit addresses, each exactly once.

An index must never be handed out twice, even to concurrent requests, and never reused, even after
a rollback: two payments sharing an address could not be told apart. PostgreSQL's sequence gives
both (nextval is never rolled back; a rolled-back value is simply skipped). SQLite has no sequences,
so a counter row is bumped with UPDATE ... RETURNING, which takes the write lock, so concurrent
allocators queue on it. On SQLite a rolled-back allocation is reused by the next caller; that is
safe because nothing outside the failed transaction ever saw it.

Both databases hand out 1, 2, 3, ...: index 0 is left unused (with the development mnemonic it is
the pre-funded account, a confusing deposit address).

`IndexBlocks` is what a PostgreSQL process uses: it draws `BLOCK` sequence values in one round
trip and hands them out one by one, so a create costs no allocation round trip 19 times in 20 (as
a sequence's own `CACHE` does inside one backend). Indexes stay unique across processes (the
sequence still hands out each value once) but are no longer gap-free or ordered by creation time:
a process that stops leaves the rest of its block unused, which costs nothing (an address nobody
was given is never watched or swept).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ctrip_core.db.hot_pool import HotPool
from ctrip_core.db.hot_statements import HotStatement
from ctrip_core.db.models import DEPOSIT_ADDRESS_INDEX_SEQ, DERIVATION_COUNTER, AllocationCounter

#: Sequence values a process reserves per round trip on PostgreSQL.
BLOCK = 20

_NEXT_BLOCK = HotStatement(select(DEPOSIT_ADDRESS_INDEX_SEQ.next_value())
                           .select_from(func.generate_series(1, bindparam("count"))))
_counter = AllocationCounter.__table__.c
_BUMP_COUNTER = (
    update(AllocationCounter.__table__)
    .where(_counter.name == DERIVATION_COUNTER)
    .values(next_value=_counter.next_value + 1)
    .returning(_counter.next_value - 1)
)


async def allocate_from_counter(conn: AsyncConnection) -> int:
    """SQLite: a derivation index no other call has returned, within conn's transaction."""
    index = (await conn.execute(_BUMP_COUNTER)).scalar_one_or_none()
    if index is None:
        raise RuntimeError(f"allocation_counters has no {DERIVATION_COUNTER!r} row: run `ctrip db upgrade`")
    return index


async def _draw_block(conn: AsyncConnection | HotPool, count: int) -> list[int]:
    """`count` values of the PostgreSQL sequence in one round trip, lowest first."""
    return sorted(row[0] for row in await _NEXT_BLOCK.fetch(conn, {"count": count}))


class IndexBlocks:
    """A PostgreSQL process's supply of derivation indexes (one per payment writer), drawn `block` at a time.

    SQLite has no blocks: every index comes from the caller's transaction (`allocate_from_counter`),
    whose counter row is what serializes writers there; the embedded default is not a hot path.
    Which of the two a process uses is the payment writer's choice (db/payment_writer.py).
    """

    def __init__(self, block: int = BLOCK):
        self.block = block
        self._reserved: list[int] = []
        self._refill = asyncio.Lock()

    async def next(self, conn: AsyncConnection | HotPool) -> int:
        if not self._reserved:
            async with self._refill:
                if not self._reserved:  # another task may have refilled while this one waited
                    self._reserved = (await _draw_block(conn, self.block))[::-1]
        return self._reserved.pop()
