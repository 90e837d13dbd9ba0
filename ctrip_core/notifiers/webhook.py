"""The core's `webhook` notifier: one pending delivery per subscribed endpoint of the merchant.

It only writes `deliveries` rows (atomically with the dispatch mark); the `deliver_webhooks` job
sends them, signed per Standard Webhooks, retried with backoff, in order per payment and endpoint.
"""

from __future__ import annotations

from sqlalchemy import select

from ctrip_core.db.models import Delivery, WebhookEndpoint
from ctrip_core.db.types import utcnow
from ctrip_core.hookspecs import hookimpl
from ctrip_core.ids import new_id
from ctrip_core.notifiers import Notifier


class WebhookNotifier(Notifier):
    name = "webhook"

    async def notify(self, event, session) -> None:
        await self.notify_many([event], session)

    async def notify_many(self, events, session) -> None:
        """The deliveries of a batch of events: two queries and one insert, whatever the batch size."""
        merchants = sorted({event.merchant_id for event in events})
        endpoints: dict[str, list[WebhookEndpoint]] = {}
        for endpoint in await session.scalars(select(WebhookEndpoint).where(
                WebhookEndpoint.merchant_id.in_(merchants), WebhookEndpoint.status == "enabled")):
            endpoints.setdefault(endpoint.merchant_id, []).append(endpoint)
        if not endpoints:
            return
        existing = set((await session.execute(select(Delivery.event_id, Delivery.endpoint_id).where(
            Delivery.event_id.in_([event.id for event in events])))).all())
        now = utcnow()
        for event in events:
            for endpoint in endpoints.get(event.merchant_id, ()):
                if (endpoint.events and event.type not in endpoint.events) or (event.id, endpoint.id) in existing:
                    continue
                session.add(Delivery(id=new_id("dlv"), event_id=event.id, endpoint_id=endpoint.id, state="pending",
                                     attempts=0, next_attempt_at=now, created_at=now))


@hookimpl
def ctrip_register_notifiers(register, settings):
    register(WebhookNotifier())
