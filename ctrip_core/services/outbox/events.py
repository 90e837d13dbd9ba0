"""The outbox: events are rows written in the same transaction as the change they report.

Delivery (webhooks, other notifiers) reads them later, so a crash between the state change and
the send can lose nothing. What an event carries is built by the payments room
(services/payments/payment_events.py); the outbox stores it as given.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import Delivery, DeliveryAttempt, Event, Payment, Transfer
from ctrip_core.db.types import utcnow
from ctrip_core.ids import new_id
from ctrip_core.services.payments.payment_events import payment_event_payload

#: Every event type on the webhook stream (CONTRACT §5): a payment's carry the payment object, a
#: payout's the payout object (services/payouts/payout_events.py), an endpoint's the webhook endpoint
#: object, never its secret (services/webhooks/endpoint_events.py).
EVENT_TYPES = ("payment.detected", "payment.confirmed", "payment.underpaid", "payment.expired",
               "payment.canceled", "payment.reorged", "payment.late", "payment.swept", "payment.misdirected",
               "refund.created", "refund.succeeded", "refund.failed",
               "payout.created", "payout.succeeded", "payout.failed",
               "webhook_endpoint.disabled", "webhook_endpoint.test")


async def record_payment_event(session: AsyncSession, payment: Payment, event_type: str, *,
                               transfers: Sequence[Transfer] | None = None) -> Event:
    """Add an event carrying the payment object as it is now; the caller's transaction commits it.

    Callers that hold all of the payment's transfers pass them, saving the queries to load them.
    """
    if event_type not in EVENT_TYPES or not event_type.startswith("payment."):
        raise ValueError(f"unknown event type {event_type}")
    now = utcnow()
    event_id = new_id("evt")
    payload = await payment_event_payload(session, payment, event_id=event_id, event_type=event_type,
                                          created_at=now, transfers=transfers)
    event = Event(id=event_id, merchant_id=payment.merchant_id, payment_id=payment.id, type=event_type,
                  payload=payload, created_at=now)
    session.add(event)
    return event


async def list_events(session: AsyncSession, merchant_id: str, *, payment_id: str | None = None,
                      event_type: str | None = None, limit: int = 20) -> tuple[list[Event], bool]:
    """The merchant's events, newest first."""
    query = select(Event).where(Event.merchant_id == merchant_id)
    if payment_id is not None:
        query = query.where(Event.payment_id == payment_id)
    if event_type is not None:
        query = query.where(Event.type == event_type)
    rows = list(await session.scalars(query.order_by(Event.seq.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


async def attempts_of(session: AsyncSession, event_ids: list[str]) -> dict[str, list[tuple]]:
    """event id → [(Delivery, DeliveryAttempt)], oldest first."""
    out: dict[str, list[tuple]] = {i: [] for i in event_ids}
    if not event_ids:
        return out
    rows = await session.execute(select(Delivery, DeliveryAttempt)
                                 .join(DeliveryAttempt, DeliveryAttempt.delivery_id == Delivery.id)
                                 .where(Delivery.event_id.in_(event_ids)).order_by(DeliveryAttempt.id))
    for delivery, attempt in rows.all():
        out[delivery.event_id].append((delivery, attempt))
    return out
