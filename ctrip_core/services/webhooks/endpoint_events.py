"""webhook_endpoint.* events: written in the transaction that changes the endpoint, carrying the
endpoint object as it is then (endpoints.render_endpoint: never its secret).

`webhook_endpoint.disabled` is written once, when an endpoint goes from enabled to disabled after
failing for `webhooks.disable_after_s` (deliveries.record_attempts); it is delivered like any other
event to the merchant's other enabled endpoints subscribed to it, never to the disabled one
(subscriptions.subscribes).
"""

from __future__ import annotations

from ctrip_core.db.models import Event, WebhookEndpoint
from ctrip_core.db.types import utcnow
from ctrip_core.ids import new_id
from ctrip_core.services.outbox.events import EVENT_TYPES
from ctrip_core.services.payments.payment_events import event_envelope
from ctrip_core.services.webhooks.endpoints import render_endpoint


def endpoint_event(endpoint: WebhookEndpoint, what: str) -> Event:
    """The `webhook_endpoint.<what>` event of `endpoint` (EVENT_TYPES), for the caller's transaction to add."""
    event_type = f"webhook_endpoint.{what}"
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type}")
    now, event_id = utcnow(), new_id("evt")
    payload = event_envelope(event_id, event_type, now, render_endpoint(endpoint))
    return Event(id=event_id, merchant_id=endpoint.merchant_id, payment_id=None, type=event_type, payload=payload,
                 created_at=now)
