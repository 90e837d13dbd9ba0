"""How long an `Idempotency-Key` lives: `idempotency.ttl_s` (24 h) after its first use, then it is new.

One rule for both sides: the API (api/idempotency.py) never replays a row `is_expired` says is past
its TTL, even before the purge has run (it deletes that row and treats the request as new), and
`purge_expired` deletes every such row (the `purge_idempotency_keys` job, enqueued by the scheduler
every `idempotency.purge_every_s`), so stored responses do not pile up.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.config import Settings
from ctrip_core.db.models import IdempotencyKey


#: A stored first response that holds a secret (a webhook endpoint's signing secret) is kept as
#: SEALED + its SecretBox ciphertext (api/idempotency.py seals and opens it; services/webhooks/secret_rotation.py re-seals it).
SEALED = "sealed:"


def ttl(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.idempotency.ttl_s)


def is_expired(created_at: datetime, now: datetime, ttl: timedelta) -> bool:
    """A key first used at `created_at` no longer replays at `now`."""
    return now - created_at > ttl


async def purge_expired(session: AsyncSession, now: datetime, ttl: timedelta) -> int:
    """Delete the keys past their TTL at `now` (in the caller's transaction); returns how many."""
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - ttl)
                                   .execution_options(synchronize_session=False))
    return result.rowcount or 0
