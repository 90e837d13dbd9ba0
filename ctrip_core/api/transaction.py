"""Where an API handler writes.

`@in_transaction` opens one session transaction for the whole handler (found in `g.db`): it
commits when the handler returns and rolls back when it raises, so an error response never leaves
half a change behind. Creating a payment needs none: its write is atomic on its own (the payment
writer, db/payment_writer.py), so it joins the request's transaction only when one is open (an
Idempotency-Key opens one, see api/idempotency.py), and otherwise spares PostgreSQL the BEGIN and
COMMIT round trips and the ORM session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import wraps

from quart import g
from sqlalchemy.ext.asyncio import AsyncSession

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
