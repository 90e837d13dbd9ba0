"""`ctrip secret-key rotate`: re-seal every secret stored under `secret_key` with the current key.

What `secret_key` seals in the database: each webhook endpoint's signing secret (and the previous
one during its own rotation window), each dashboard user's TOTP secret, and the first responses of idempotent requests that hold a
secret (stored as idempotency_keys.SEALED + ciphertext). With the new key in `secret_key` and the
old one in `secret_key_previous` (SecretBox opens with either), this re-seals each with the new
key, in one transaction; a row neither key opens is counted and left as it is, never
overwritten. Once `unreadable` is zero, `secret_key_previous` can be removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import DashboardUser, IdempotencyKey, WebhookEndpoint
from ctrip_core.services.webhooks.secret_box import SecretBox
from ctrip_core.services.idempotency_keys import SEALED


@dataclass
class Resealed:
    """How many stored secrets were re-sealed, and how many no configured key opens."""

    endpoint_secrets: int = 0
    sealed_replays: int = 0
    totp_secrets: int = 0
    unreadable: int = 0


def _reseal(box: SecretBox, ciphertext: str, report: Resealed) -> str | None:
    try:
        return box.reseal(ciphertext)
    except ValueError:
        report.unreadable += 1
        return None


async def reseal_all(session: AsyncSession, box: SecretBox) -> Resealed:
    """Re-seal every stored secret with the box's current key (in the caller's transaction)."""
    report = Resealed()
    for endpoint in (await session.scalars(select(WebhookEndpoint).with_for_update())).all():
        for column in ("secret_ciphertext", "previous_secret_ciphertext"):
            stored = getattr(endpoint, column)
            if stored is not None and (resealed := _reseal(box, stored, report)) is not None:
                setattr(endpoint, column, resealed)
                report.endpoint_secrets += 1
    users = select(DashboardUser).where(DashboardUser.totp_secret_ciphertext.is_not(None))
    for user in (await session.scalars(users.with_for_update())).all():
        if (resealed := _reseal(box, user.totp_secret_ciphertext, report)) is not None:
            user.totp_secret_ciphertext = resealed
            report.totp_secrets += 1
    replays = select(IdempotencyKey).where(IdempotencyKey.response_body.startswith(SEALED, autoescape=True))
    for row in (await session.scalars(replays.with_for_update())).all():
        if (resealed := _reseal(box, row.response_body[len(SEALED):], report)) is not None:
            row.response_body = SEALED + resealed
            report.sealed_replays += 1
    return report
