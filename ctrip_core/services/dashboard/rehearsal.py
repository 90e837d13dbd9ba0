"""What an action would do, with nothing done: the dashboard's confirmation step.

`rehearse` runs the very use-case the confirmed form will run (the one place its rules live: limits,
refundable room, the default address) in a transaction that is always rolled back, and returns
what the work returned, read before the rollback. The confirmed submission runs it again for real,
so a rule that changed in between (another refund landed) is applied then, not skipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


async def rehearse(sessions, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """`work(session)`'s answer from a transaction of `sessions()` that is then rolled back. The
    answer must be plain values read inside `work`: the rollback expires every ORM object."""
    async with sessions() as session:
        transaction = await session.begin()
        try:
            return await work(session)
        finally:
            await transaction.rollback()
