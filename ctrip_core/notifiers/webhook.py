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
        endpoints = await session.scalars(select(WebhookEndpoint).where(
            WebhookEndpoint.merchant_id == event.merchant_id, WebhookEndpoint.status == "enabled"))
        existing = set(await session.scalars(select(Delivery.endpoint_id).where(Delivery.event_id == event.id)))
        now = utcnow()
        for endpoint in endpoints:
            if (endpoint.events and event.type not in endpoint.events) or endpoint.id in existing:
                continue
            session.add(Delivery(id=new_id("dlv"), event_id=event.id, endpoint_id=endpoint.id, state="pending",
                                 attempts=0, next_attempt_at=now, created_at=now))


@hookimpl
def ctrip_register_notifiers(register, settings):
    register(WebhookNotifier())
