"""/v1/events: the merchant's events with their delivery attempts, and redelivery."""

from __future__ import annotations

from quart import Blueprint, g
from quart_schema import validate_querystring, validate_response

from ctrip_core.api.auth import scope
from ctrip_core.api.docs import errors
from ctrip_core.api.idempotency import idempotent
from ctrip_core.api.schemas import AttemptOut, EventList, EventOut, ListEventsQuery, RedeliverOut
from ctrip_core.api.state import app_state
from ctrip_core.api.transaction import in_transaction
from ctrip_core.services.outbox import events
from ctrip_core.services.payments.payment_view import iso
from ctrip_core.services.webhooks import redelivery

blueprint = Blueprint("events", __name__)


def render(event, attempts) -> EventOut:
    return EventOut(id=event.id, object="event", type=event.type, payment_id=event.payment_id,
                    created_at=iso(event.created_at), data=event.payload.get("data", {}),
                    attempts=[AttemptOut(attempt=a.attempt, endpoint_id=d.endpoint_id, status_code=a.status_code,
                                         latency_ms=a.latency_ms, error=a.error, created_at=iso(a.created_at))
                              for d, a in attempts])


@blueprint.get("/events")
@scope("read")
@validate_querystring(ListEventsQuery)
@validate_response(EventList, 200)
@errors()
async def list_events(query_args: ListEventsQuery):
    """Events newest first, filtered by payment and type, each with its delivery attempts."""
    async with app_state().runtime.read_sessions() as session:
        rows, has_more = await events.list_events(session, g.merchant_id, payment_id=query_args.payment_id,
                                                  event_type=query_args.type, limit=query_args.limit)
        attempts = await events.attempts_of(session, [e.id for e in rows])
    return EventList(object="list", data=[render(e, attempts[e.id]) for e in rows], has_more=has_more), 200


@blueprint.post("/events/<event_id>/redeliver")
@scope("payments")
@validate_response(RedeliverOut, 202)
@errors(404)
@in_transaction
@idempotent
async def redeliver(event_id: str):
    """Queue a new delivery of the event, with the same event id so receivers can deduplicate."""
    count = await redelivery.redeliver(g.db, g.merchant_id, event_id)
    return RedeliverOut(event_id=event_id, deliveries=count), 202
