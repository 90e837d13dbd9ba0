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
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import DEPOSIT_ADDRESS_INDEX_SEQ, DERIVATION_COUNTER, AllocationCounter


async def allocate_derivation_index(session: AsyncSession) -> int:
    """Return a derivation index no other call has returned, within session's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        return await _from_sequence(session)
    return await _from_counter(session)


async def _from_sequence(session: AsyncSession) -> int:
    return (await session.execute(select(DEPOSIT_ADDRESS_INDEX_SEQ.next_value()))).scalar_one()


async def _from_counter(session: AsyncSession) -> int:
    counters = AllocationCounter.__table__
    counter = counters.c
    bumped = (
        update(counters)
        .where(counter.name == DERIVATION_COUNTER)
        .values(next_value=counter.next_value + 1)
        .returning(counter.next_value - 1)
    )
    index = (await session.execute(bumped)).scalar_one_or_none()
    if index is None:
        raise RuntimeError(
            f"allocation_counters has no {DERIVATION_COUNTER!r} row: run `ctrip db upgrade`"
        )
    return index
