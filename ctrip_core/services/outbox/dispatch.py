"""The outbox dispatcher: hand each undispatched event to every notifier, oldest first.

Each notifier gets the whole batch in one `notify_many(events, session)` call: the base class's
hands them to `notify` one by one, the webhook notifier's writes a batch's deliveries in a few statements.

Events are claimed with FOR UPDATE SKIP LOCKED (PostgreSQL), so several dispatchers share the work
without handing an event out twice at once; on SQLite the write lock serializes them. A dispatcher
never hands out a payment's event while an earlier one of it is still undispatched elsewhere (held
by another dispatcher), so deliveries are written, and sent, in the payment's order. An event is
marked dispatched in the same transaction as what the notifiers wrote, so nothing is lost if a
worker or Redis dies between the payment's commit and the send: the row simply waits.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select, update

from ctrip_core.db.models import Event
from ctrip_core.db.types import utcnow
from ctrip_core.notifiers import EventEnvelope
from ctrip_core.runtime import Runtime

log = logging.getLogger(__name__)


def envelope(event: Event) -> EventEnvelope:
    return EventEnvelope(id=event.id, type=event.type, created_at=event.payload.get("created_at", ""),
                         merchant_id=event.merchant_id, payment_id=event.payment_id, payload=event.payload)


async def _in_order(session, events: list[Event]) -> list[Event]:
    """`events` without any a payment's earlier undispatched event (held by another dispatcher) precedes.

    SKIP LOCKED hands a second dispatcher event 2 of a payment while the first still holds event 1:
    its deliveries would exist, and be sent, before event 1's. Those events are left undispatched
    (and unlocked at commit) for a later round, once event 1 is out.
    """
    ours = {event.seq for event in events}
    payment_ids = sorted({event.payment_id for event in events if event.payment_id is not None})
    if not payment_ids:
        return events
    rows = await session.execute(select(Event.payment_id, func.min(Event.seq))
                                 .where(Event.payment_id.in_(payment_ids), Event.dispatched_at.is_(None),
                                        Event.seq.not_in(ours))
                                 .group_by(Event.payment_id))
    held = dict(rows.all())
    return [event for event in events if event.payment_id is None or event.seq < held.get(event.payment_id, event.seq + 1)]


async def dispatch_events(runtime: Runtime, notifiers: list, *, limit: int = 500) -> int:
    """Dispatch up to `limit` events; returns how many were marked dispatched."""
    async with runtime.sessions() as session, session.begin():
        query = select(Event).where(Event.dispatched_at.is_(None)).order_by(Event.seq).limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        events = await _in_order(session, list(await session.scalars(query)))
        if not events:
            return 0
        envelopes = [envelope(event) for event in events]
        for notifier in notifiers:
            await notifier.notify_many(envelopes, session)
        await session.execute(update(Event).where(Event.seq.in_([e.seq for e in events]))
                              .values(dispatched_at=utcnow()).execution_options(synchronize_session=False))
    return len(events)
