"""The one subscription rule (services/webhooks/subscriptions.py) that the fan-out and redelivery share."""

from __future__ import annotations

from ctrip_core.db.models import WebhookEndpoint
from ctrip_core.services.webhooks import notifier, redelivery, subscriptions


def test_an_endpoint_listing_no_types_gets_every_event_and_one_with_a_list_only_those():
    for every in (None, []):
        assert subscriptions.subscribes(WebhookEndpoint(events=every), "payment.swept")
    listed = WebhookEndpoint(events=["payment.confirmed", "payment.expired"])
    assert subscriptions.subscribes(listed, "payment.confirmed")
    assert not subscriptions.subscribes(listed, "payment.detected")


def test_fan_out_and_redelivery_use_the_same_rule():
    assert notifier.subscribes is subscriptions.subscribes is redelivery.subscribes
    assert notifier.enabled_endpoints is redelivery.enabled_endpoints
