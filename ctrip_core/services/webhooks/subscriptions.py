"""Which endpoint gets which event: the one subscription rule, for the fan-out of new events
(notifier) and for redelivery (redelivery) alike, so the two can never disagree.

An enabled endpoint of the event's merchant gets it when its `events` list is empty (every type)
or names the event's type; each gets one pending delivery, due at once. An event about an endpoint
(`webhook_endpoint.disabled`) never goes to that endpoint itself; a test event
(`webhook_endpoint.test`, services/webhooks/test_event.py) goes to that endpoint only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import Delivery, WebhookEndpoint
from ctrip_core.ids import new_id

#: The event the dashboard's **Send a test event** writes (services/webhooks/test_event.py).
TEST_EVENT = "webhook_endpoint.test"


async def enabled_endpoints(session: AsyncSession, merchant_ids: Iterable[str]) -> dict[str, list[WebhookEndpoint]]:
    """The merchants' enabled endpoints, by merchant id (merchants without any are left out)."""
    endpoints: dict[str, list[WebhookEndpoint]] = {}
    for endpoint in await session.scalars(select(WebhookEndpoint).where(
            WebhookEndpoint.merchant_id.in_(list(merchant_ids)), WebhookEndpoint.status == "enabled")):
        endpoints.setdefault(endpoint.merchant_id, []).append(endpoint)
    return endpoints


def subscribes(endpoint: WebhookEndpoint, event_type: str, payload: Mapping[str, Any] | None = None) -> bool:
    """The endpoint wants events of `event_type`: it lists none (every type) or lists this one, and
    the event (its `payload`, when given) is not about the endpoint itself; a test event goes to the
    endpoint it tests, whatever its list, and to no other."""
    about = (payload.get("data") or {}).get("id") if payload is not None else None
    if event_type == TEST_EVENT:
        return about is not None and about == endpoint.id
    if event_type.startswith("webhook_endpoint.") and about == endpoint.id:
        return False
    return not endpoint.events or event_type in endpoint.events


def pending_delivery(event_id: str, endpoint_id: str, now: datetime) -> Delivery:
    """A new delivery of the event to the endpoint, due now."""
    return Delivery(id=new_id("dlv"), event_id=event_id, endpoint_id=endpoint_id, state="pending",
                    attempts=0, next_attempt_at=now, created_at=now)
