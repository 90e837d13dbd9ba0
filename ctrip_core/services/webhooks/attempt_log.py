"""An endpoint's delivery log: its newest deliveries, each with its event and every attempt
(HTTP status, latency, error), as the dashboard's endpoint page shows them."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import Delivery, DeliveryAttempt, Event

LOG_SIZE = 50


@dataclass
class LoggedDelivery:
    delivery: Delivery
    event: Event
    attempts: list[DeliveryAttempt] = field(default_factory=list)


async def attempt_log(session: AsyncSession, endpoint_id: str, limit: int = LOG_SIZE) -> list[LoggedDelivery]:
    """The endpoint's newest `limit` deliveries (the caller has checked the endpoint is the merchant's)."""
    rows = (await session.execute(select(Delivery, Event).join(Event, Event.id == Delivery.event_id)
                                  .where(Delivery.endpoint_id == endpoint_id)
                                  .order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(limit))).all()
    log = {d.id: LoggedDelivery(d, e) for d, e in rows}
    if log:
        for attempt in await session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(list(log)))
                                             .order_by(DeliveryAttempt.id)):
            log[attempt.delivery_id].attempts.append(attempt)
    return list(log.values())
