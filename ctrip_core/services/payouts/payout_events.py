"""payout.* and refund.* events: written in the transaction that changes the payout (or refund),
carrying it as it is then."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import Event, Payout
from ctrip_core.db.types import utcnow
from ctrip_core.ids import new_id
from ctrip_core.services.outbox.events import EVENT_TYPES
from ctrip_core.services.payments.payment_events import event_envelope
from ctrip_core.services.payouts.payout_view import render


async def record_payout_event(session: AsyncSession, payout: Payout, what: str, decimals: int) -> Event:
    """`refund.<what>` for a refund (a payout with a payment), `payout.<what>` otherwise; `what` is
    created, succeeded or failed (EVENT_TYPES)."""
    event_type = f"{'refund' if payout.payment_id else 'payout'}.{what}"
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type}")
    now, event_id = utcnow(), new_id("evt")
    payload = event_envelope(event_id, event_type, now, await render(session, payout, decimals))
    event = Event(id=event_id, merchant_id=payout.merchant_id, payment_id=payout.payment_id, type=event_type,
                  payload=payload, created_at=now)
    session.add(event)
    return event
