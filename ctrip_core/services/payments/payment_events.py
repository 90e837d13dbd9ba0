"""The payload of a payment event: `{id, type, created_at, data}`, `data` being the payment object
as the API shows it at that moment (payment_view), so a webhook receiver and `GET /v1/payments/{id}`
see the same thing.

Built here, in the payments room, so the outbox (services/outbox/events.py) stores a ready payload
and needs no knowledge of how a payment is presented.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import Payment, Transfer
from ctrip_core.services.payments.payment_view import iso, render_one, render_with_transfers


def event_envelope(event_id: str, event_type: str, created_at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """The envelope every event carries around its payment object."""
    return {"id": event_id, "type": event_type, "created_at": iso(created_at), "data": data}


async def payment_event_payload(session: AsyncSession, payment: Payment, *, event_id: str, event_type: str,
                                created_at: datetime, transfers: Sequence[Transfer] | None = None) -> dict[str, Any]:
    """The payload of `event_type` for `payment` as it is now.

    Callers that hold all of the payment's transfers pass them, saving the queries to load them.
    """
    if transfers is None:
        data = await render_one(session, payment)
    else:
        data = await render_with_transfers(session, payment, transfers)
    return event_envelope(event_id, event_type, created_at, data)
