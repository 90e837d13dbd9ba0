"""A dashboard form that acts is acted on once: a second submission (a double click, the browser's
back-and-resend) finds where the first one went instead of refunding or paying twice.

Each such form carries a nonce: the time it was made and 43 random characters. `claim` records it
in `idempotency_keys` (the API's table, purged after `idempotency.ttl_s` the same way) in the
transaction that does the work, so the mark and the work commit together or not at all, bound to
what the form is for (`purpose`: "payout", "refund:pay_…"): the same nonce sent for another
purpose is refused, never taken for done. A nonce older than `LIFETIME` is refused too ("reload
the page"), so a form resent after its mark was purged cannot act again. `settle` stores where
the work's result is shown. The key is `dashboard:` + the nonce, which no API client can guess.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import IdempotencyKey
from ctrip_core.services.errors import Conflict, InvalidField

PREFIX = "dashboard:"
#: How long a form may be sent after it was made; well inside `idempotency.ttl_s` (24 h by default).
LIFETIME = timedelta(hours=2)
_NONCE = re.compile(r"(\d{1,12})\.[A-Za-z0-9_-]{43}")


def new_nonce(now: datetime) -> str:
    return f"{int(now.timestamp())}.{secrets.token_urlsafe(32)}"


def _purpose_hash(purpose: str) -> str:
    return hashlib.sha256(f"dashboard form: {purpose}".encode()).hexdigest()


async def claim(session: AsyncSession, merchant_id: str, nonce: str | None, purpose: str, now: datetime
                ) -> str | None:
    """None when this form is new (now claimed in the caller's transaction); else where its first
    submission's result is ("" while that one has not finished). InvalidField for a malformed or
    expired nonce, Conflict for one sent before for another purpose."""
    shape = _NONCE.fullmatch(nonce or "")
    if shape is None:
        raise InvalidField("the form is incomplete: reload the page", "nonce")
    made = int(shape.group(1))
    if not now.timestamp() - LIFETIME.total_seconds() <= made <= now.timestamp() + 60:
        raise InvalidField("the form is too old: reload the page and send it again", "nonce")
    expected = _purpose_hash(purpose)
    row = await session.get(IdempotencyKey, (merchant_id, PREFIX + nonce))
    if row is None:
        try:
            async with session.begin_nested():
                session.add(IdempotencyKey(merchant_id=merchant_id, key=PREFIX + nonce, request_hash=expected))
            return None
        except IntegrityError:  # its twin is committing right now
            return ""
    if row.request_hash != expected:
        raise Conflict("this form was already sent for something else: reload the page", "nonce")
    return row.response_body or ""


async def settle(session: AsyncSession, merchant_id: str, nonce: str, location: str) -> None:
    row = await session.get(IdempotencyKey, (merchant_id, PREFIX + nonce))
    row.response_status, row.response_body = 303, location
