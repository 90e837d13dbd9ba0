"""One database transaction per API request that writes, opened by `@in_transaction`.

The handler finds the session in `g.db`; it commits when the handler returns and rolls back when
it raises, so an error response never leaves half a change behind.
"""

from __future__ import annotations

from functools import wraps

from quart import g

from ctrip_core.api.state import app_state


def in_transaction(handler):
    @wraps(handler)
    async def wrapper(*args, **kwargs):
        async with app_state().runtime.sessions() as session:
            async with session.begin():
                g.db = session
                try:
                    return await handler(*args, **kwargs)
                finally:
                    g.db = None
    return wrapper
