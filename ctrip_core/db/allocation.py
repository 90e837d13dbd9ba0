"""Hands out HD derivation indexes for deposit addresses, each exactly once.

An index must never be handed out twice, even to concurrent requests, and never reused, even after
a rollback: two payments sharing an address could not be told apart. PostgreSQL's sequence gives
both (nextval is never rolled back; a rolled-back value is simply skipped). SQLite has no sequences,
so a counter row is bumped with UPDATE ... RETURNING, which takes the write lock, so concurrent
allocators queue on it. On SQLite a rolled-back allocation is reused by the next caller; that is
safe because nothing outside the failed transaction ever saw it.

Both databases hand out 1, 2, 3, ...: index 0 is left unused (with the development mnemonic it is
the pre-funded account, a confusing deposit address).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ctrip_core.db.hot_statements import HotStatement
from ctrip_core.db.models import DEPOSIT_ADDRESS_INDEX_SEQ, DERIVATION_COUNTER, AllocationCounter

_NEXT_FROM_SEQUENCE = HotStatement(select(DEPOSIT_ADDRESS_INDEX_SEQ.next_value()))
_counter = AllocationCounter.__table__.c
_BUMP_COUNTER = (
    update(AllocationCounter.__table__)
    .where(_counter.name == DERIVATION_COUNTER)
    .values(next_value=_counter.next_value + 1)
    .returning(_counter.next_value - 1)
)


async def allocate_derivation_index(conn: AsyncConnection) -> int:
    """Return a derivation index no other call has returned, within conn's transaction (if any)."""
    if conn.dialect.name == "postgresql":
        return await _NEXT_FROM_SEQUENCE.scalar(conn)
    index = (await conn.execute(_BUMP_COUNTER)).scalar_one_or_none()
    if index is None:
        raise RuntimeError(f"allocation_counters has no {DERIVATION_COUNTER!r} row: run `ctrip db upgrade`")
    return index
