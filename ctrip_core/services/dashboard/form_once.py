"""A dashboard form that acts is acted on once: a second submission (a double click, the browser's
back-and-resend) finds where the first one went instead of refunding or paying twice.

Each such form carries a random nonce; `claim` records it in `idempotency_keys` (the API's table,
purged after `idempotency.ttl_s` the same way) in the transaction that does the work, so the mark
and the work commit together or not at all; `settle` stores where the work's result is shown.
The key is `dashboard:` + the nonce: 43 random characters no API client can guess.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import IdempotencyKey
from ctrip_core.services.errors import InvalidField

PREFIX = "dashboard:"
_NONCE = re.compile(r"[A-Za-z0-9_-]{43}")


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


async def claim(session: AsyncSession, merchant_id: str, nonce: str | None) -> str | None:
    """None when this form is new (now claimed in the caller's transaction); else where its first
    submission's result is ("" while that one has not finished)."""
    if not nonce or not _NONCE.fullmatch(nonce):
        raise InvalidField("the form is incomplete: reload the page", "nonce")
    row = await session.get(IdempotencyKey, (merchant_id, PREFIX + nonce))
    if row is not None:
        return row.response_body or ""
    try:
        async with session.begin_nested():
            session.add(IdempotencyKey(merchant_id=merchant_id, key=PREFIX + nonce, request_hash="dashboard-form"))
    except IntegrityError:  # its twin is committing right now
        return ""
    return None


async def settle(session: AsyncSession, merchant_id: str, nonce: str, location: str) -> None:
    row = await session.get(IdempotencyKey, (merchant_id, PREFIX + nonce))
    row.response_status, row.response_body = 303, location
