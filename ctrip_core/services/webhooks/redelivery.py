"""Redelivery: a new delivery of an event already sent (same event id, so the same `webhook-id`),
to each enabled endpoint of the merchant subscribed to it now (subscriptions.py, the rule the
fan-out uses too). `POST /v1/events/{id}/redeliver` calls it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import Event
from ctrip_core.db.types import utcnow
from ctrip_core.services.errors import NotFound
from ctrip_core.services.webhooks.subscriptions import enabled_endpoints, pending_delivery, subscribes


async def redeliver(session: AsyncSession, merchant_id: str, event_id: str) -> int:
    """Queue a new delivery of the same event (same id) to each enabled, subscribed endpoint."""
    event = await session.scalar(select(Event).where(Event.id == event_id, Event.merchant_id == merchant_id))
    if event is None:
        raise NotFound(f"no event {event_id}")
    now = utcnow()
    count = 0
    for endpoint in (await enabled_endpoints(session, [merchant_id])).get(merchant_id, ()):
        if subscribes(endpoint, event.type, event.payload):
            session.add(pending_delivery(event.id, endpoint.id, now))
            count += 1
    await session.flush()
    return count
