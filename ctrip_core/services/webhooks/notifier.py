"""The core's `webhook` notifier: one pending delivery per subscribed endpoint of the merchant
(subscriptions.py: the rule redelivery uses too).

It only writes `deliveries` rows (atomically with the dispatch mark); the `deliver_webhooks` job
sends them, signed per Standard Webhooks, retried with backoff, in order per payment and endpoint.
"""

from __future__ import annotations

from sqlalchemy import select

from ctrip_core.db.models import Delivery
from ctrip_core.db.types import utcnow
from ctrip_core.hookspecs import hookimpl
from ctrip_core.notifiers import Notifier
from ctrip_core.services.webhooks.subscriptions import enabled_endpoints, pending_delivery, subscribes


class WebhookNotifier(Notifier):
    name = "webhook"

    async def notify(self, event, session) -> None:
        await self.notify_many([event], session)

    async def notify_many(self, events, session) -> None:
        """The deliveries of a batch of events: two queries and one insert, whatever the batch size."""
        endpoints = await enabled_endpoints(session, sorted({event.merchant_id for event in events}))
        if not endpoints:
            return
        existing = set((await session.execute(select(Delivery.event_id, Delivery.endpoint_id).where(
            Delivery.event_id.in_([event.id for event in events])))).all())
        now = utcnow()
        for event in events:
            for endpoint in endpoints.get(event.merchant_id, ()):
                if subscribes(endpoint, event.type, event.payload) and (event.id, endpoint.id) not in existing:
                    session.add(pending_delivery(event.id, endpoint.id, now))


@hookimpl
def ctrip_register_notifiers(register, settings):
    register(WebhookNotifier())
