"""Where an API handler writes.

`@in_transaction` opens one session transaction for the whole handler (found in `g.db`): it
commits when the handler returns and rolls back when it raises, so an error response never leaves
half a change behind. `writer()` is for handlers whose writes are atomic on their own (creating a
payment: one statement on PostgreSQL): it joins the request's transaction when one is open (an
Idempotency-Key opens one, see api/idempotency.py) and otherwise takes a bare connection, which on
PostgreSQL spares the BEGIN and COMMIT round trips and the ORM session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import wraps

from quart import g
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ctrip_core.api.state import app_state


def in_transaction(handler):
    @wraps(handler)
    async def wrapper(*args, **kwargs):
        async with open_transaction():
            return await handler(*args, **kwargs)
    return wrapper


@asynccontextmanager
async def open_transaction() -> AsyncIterator[AsyncSession]:
    """A session in a transaction, published as `g.db` for the duration."""
    async with app_state().runtime.sessions() as session:
        async with session.begin():
            g.db = session
            try:
                yield session
            finally:
                g.db = None


@asynccontextmanager
async def writer() -> AsyncIterator[AsyncSession | AsyncConnection]:
    """The request's open transaction, else a connection of its own committed when the block succeeds."""
    if g.get("db") is not None:
        yield g.db
        return
    async with app_state().runtime.connect() as conn:
        yield conn
        await conn.commit()
