"""A test event: `webhook_endpoint.test`, sent to one endpoint on request (the dashboard's **Send a
test event**), so a merchant can check its URL and signature check before money depends on them.

It is an ordinary event (signed, retried, its attempts logged) with two differences: it goes only
to the endpoint asked for, whatever its subscription (it is recorded already dispatched, with its
one delivery, so no notifier fans it out or emails it; redelivered, the subscription rule sends it
to that endpoint alone), and it carries the endpoint object, never a payment. A disabled endpoint
gets none (enable it first).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import Event
from ctrip_core.services.errors import Conflict
from ctrip_core.services.webhooks.endpoint_events import endpoint_event
from ctrip_core.services.webhooks.endpoints import get_endpoint
from ctrip_core.services.webhooks.subscriptions import TEST_EVENT, pending_delivery


async def send_test_event(session: AsyncSession, merchant_id: str, endpoint_id: str) -> Event:
    """Record the test event and its delivery to the endpoint, due now (the caller commits)."""
    endpoint = await get_endpoint(session, merchant_id, endpoint_id)
    if endpoint.status != "enabled":
        raise Conflict(f"webhook endpoint {endpoint.id} is {endpoint.status}: enable it to send a test event", "id")
    event = endpoint_event(endpoint, "test")  # TEST_EVENT
    event.dispatched_at = event.created_at  # its one delivery is added here: no notifier fans it out
    session.add(event)
    await session.flush()
    session.add(pending_delivery(event.id, endpoint.id, event.created_at))
    await session.flush()
    return event
