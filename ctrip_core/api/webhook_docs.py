"""The webhook stream as OpenAPI 3.1 `webhooks`: one operation per event type (EVENT_TYPES), with
the Standard Webhooks signature headers and the event envelope around the object it carries.

Documentation only: what is sent is services/webhooks (signing.py for the headers) and
services/outbox (the envelope); tests/api/test_openapi_reference.py holds the two to this page.
"""

from __future__ import annotations

from ctrip_core.services.outbox.events import EVENT_TYPES

#: When each event is written (docs/webhooks.md#event-types says the same at length).
WHEN = {
    "payment.detected": "A transfer matching the payment is in a block (not yet confirmed).",
    "payment.confirmed": "Confirmed transfers add up to at least the amount: fulfil the order.",
    "payment.underpaid": "The payment expired after receiving part of the amount, all of it confirmed.",
    "payment.expired": "Nothing arrived by `expires_at`.",
    "payment.canceled": "Canceled through the API while pending.",
    "payment.reorged": "A reorg orphaned every transfer of a detected payment: it is pending again.",
    "payment.late": "A transfer arrived after the payment was final (`late: true`); it is swept too.",
    "payment.swept": "The received funds were moved to the treasury (or the payout wallet's float).",
    "payment.misdirected": "A configured asset arrived at the payment's address on another chain than the "
                           "payment's: listed in `misdirected`, never counted toward the amount.",
    "refund.created": "A refund was asked for (`POST /v1/payments/{payment_id}/refunds`).",
    "refund.succeeded": "The refund's transaction is mined past the chain's confirmation rule.",
    "refund.failed": "The refund will not be sent: `failure_reason` says why.",
    "payout.created": "A payout was asked for (`POST /v1/payouts` or a batch).",
    "payout.succeeded": "The payout's transaction is mined past the chain's confirmation rule.",
    "payout.failed": "The payout will not be sent: `failure_reason` says why.",
    "webhook_endpoint.disabled": "Another of your endpoints was disabled after failing for "
                                 "`webhooks.disable_after_s`; written once, never sent to that endpoint "
                                 "(`data` is it, without its secret).",
    "webhook_endpoint.test": "Sent on request (the dashboard's **Send a test event**) to the endpoint it tests "
                             "alone, whatever it subscribes to; `data` is that endpoint, without its secret. "
                             "Acknowledge it with a 2xx like any event.",
}
#: The object in `data`, by the event type's prefix: a component of /openapi.json.
DATA_SCHEMA = {"payment": "PaymentOut", "refund": "RefundOut", "payout": "PayoutOut",
               "webhook_endpoint": "WebhookEndpointOut"}

HEADERS = [
    {"name": "webhook-id", "in": "header", "required": True, "schema": {"type": "string", "pattern": "^evt_"},
     "description": "The event id, the same on every retry and redelivery of the event: deduplicate on it.",
     "example": "evt_FQotx1Hkd3IbXRe4vZiYReVX"},
    {"name": "webhook-timestamp", "in": "header", "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"},
     "description": "Unix seconds when this attempt was signed (each attempt afresh); reject one more than "
                    "5 minutes from your clock.", "example": "1764085580"},
    {"name": "webhook-signature", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{raw body}`, keyed "
                    "with the base64-decoded part of your `whsec_` secret after `whsec_`; during a secret "
                    "rotation two, separated by a space: accept the request if any matches (constant-time).",
     "example": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="},
    {"name": "user-agent", "in": "header", "required": True, "schema": {"const": "cTrip-Webhooks/1"},
     "description": "Always `cTrip-Webhooks/1`."},
]


def _operation(event_type: str) -> dict:
    kind = event_type.split(".", 1)[0]
    data = {"$ref": f"#/components/schemas/{DATA_SCHEMA[kind]}",
            "description": f"The {kind.replace('_', ' ')} object as it was when the event was written."}
    envelope = {"type": "object", "required": ["id", "type", "created_at", "data"], "properties": {
        "id": {"type": "string", "description": "The event id, as in `webhook-id`.",
               "examples": ["evt_FQotx1Hkd3IbXRe4vZiYReVX"]},
        "type": {"const": event_type, "description": "The event type."},
        "created_at": {"type": "string", "format": "date-time", "description": "When the event was written (UTC).",
                       "examples": ["2026-11-25T15:46:20Z"]},
        "data": data}}
    return {"post": {
        "operationId": f"webhook_{event_type.replace('.', '_')}",
        "summary": event_type,
        "description": WHEN[event_type] + " Delivered at least once, in order per payment, signed as "
                       "Standard Webhooks specify; answer any 2xx within `webhooks.timeout_s`.",
        "tags": ["Webhooks"],
        "parameters": HEADERS,
        "requestBody": {"required": True, "content": {"application/json": {"schema": envelope}}},
        "responses": {"2XX": {"description": "Received: no retry."},
                      "default": {"description": "Anything else, or no answer in time: retried with backoff "
                                                 "for at least 24 h, then the endpoint may be disabled."}}}}


def webhook_operations() -> dict:
    """The OpenAPI `webhooks` object: event type → its POST to your endpoint."""
    return {event_type: _operation(event_type) for event_type in EVENT_TYPES}
