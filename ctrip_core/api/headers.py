"""Request headers a client may send once: a repeated one is refused (400 naming it), never one
of its values picked. Werkzeug's `headers.get` silently took the first of two `Authorization` or
`Idempotency-Key` headers, so a proxy and a client could each think their value was the one used.
"""

from __future__ import annotations

from quart import request

from ctrip_core.api.errors import APIError


def single_header(name: str) -> str | None:
    """The value of header `name`, None when absent; APIError 400 naming it when sent more than once."""
    values = request.headers.getlist(name)
    if len(values) > 1:
        raise APIError(400, "repeated_header", f"must be sent once, not {len(values)} times", field=name)
    return values[0] if values else None
