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


def test_an_endpoint_never_gets_the_event_about_itself():
    every, other = WebhookEndpoint(id="we_a", events=[]), WebhookEndpoint(id="we_b", events=[])
    payload = {"type": "webhook_endpoint.disabled", "data": {"id": "we_a", "status": "disabled"}}
    assert not subscriptions.subscribes(every, "webhook_endpoint.disabled", payload)
    assert subscriptions.subscribes(other, "webhook_endpoint.disabled", payload)
    assert not subscriptions.subscribes(WebhookEndpoint(id="we_b", events=["payment.confirmed"]),
                                        "webhook_endpoint.disabled", payload)


def test_a_test_event_goes_to_the_endpoint_it_tests_alone_whatever_it_subscribes_to():
    tested, other = WebhookEndpoint(id="we_a", events=["payment.confirmed"]), WebhookEndpoint(id="we_b", events=[])
    payload = {"type": "webhook_endpoint.test", "data": {"id": "we_a", "status": "enabled"}}
    assert subscriptions.subscribes(tested, "webhook_endpoint.test", payload)
    assert not subscriptions.subscribes(other, "webhook_endpoint.test", payload)
    assert not subscriptions.subscribes(tested, "webhook_endpoint.test")  # about nothing known: nobody
