"""The core's `webhook` notifier: Standard Webhooks deliveries to merchants' endpoints.

Registered here so it is loaded like any outside notifier; delivery itself (signing, retries,
ordering per payment) is built by the webhooks issue on top of the outbox tables.
"""

from __future__ import annotations

from ctrip_core.hookspecs import hookimpl
from ctrip_core.notifiers import Notifier


class WebhookNotifier(Notifier):
    name = "webhook"

    async def notify(self, event) -> None:
        """Fan the event out to the merchant's enabled endpoints (deliveries are queued, not sent inline)."""
        raise NotImplementedError("webhook delivery arrives with the webhooks issue")


@hookimpl
def ctrip_register_notifiers(register, settings):
    register(WebhookNotifier())
