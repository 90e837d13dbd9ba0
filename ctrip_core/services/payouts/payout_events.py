"""payout.* events: written in the transaction that changes the payout, carrying it as it is then."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import Event, Payout
from ctrip_core.db.types import utcnow
from ctrip_core.ids import new_id
from ctrip_core.services.outbox.events import EVENT_TYPES
from ctrip_core.services.payments.payment_events import event_envelope
from ctrip_core.services.payouts.payout_view import render



async def record_payout_event(session: AsyncSession, payout: Payout, event_type: str, decimals: int) -> Event:
    if event_type not in EVENT_TYPES or not event_type.startswith("payout."):
        raise ValueError(f"unknown event type {event_type}")
    now, event_id = utcnow(), new_id("evt")
    payload = event_envelope(event_id, event_type, now, await render(session, payout, decimals))
    event = Event(id=event_id, merchant_id=payout.merchant_id, payment_id=None, type=event_type, payload=payload,
                  created_at=now)
    session.add(event)
    return event
