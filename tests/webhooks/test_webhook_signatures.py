"""Every event type reaches a real receiver signed per Standard Webhooks, verified by the independent
`standardwebhooks` package (not by our own signing code), with the body and headers of CONTRACT §5.
"""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ctrip_core.services.outbox.events import EVENT_TYPES
from ctrip_core.services.payouts.requests import PayoutRequest, create_payout
from ctrip_core.services.webhooks.secret_box import SecretBox
from webhooks_support import (add_endpoint, db_url, drain, emit, hooks, http, merchant_id, new_payment,  # noqa: F401
                              quiet_endpoints_after, rt, runtimes)

ALL_TYPES = ("payment.detected", "payment.confirmed", "payment.underpaid", "payment.expired",
             "payment.canceled", "payment.reorged", "payment.late", "payment.swept", "payment.misdirected")


def test_the_contract_lists_exactly_these_types():
    assert tuple(EVENT_TYPES) == (*ALL_TYPES, "refund.created", "refund.succeeded", "refund.failed",
                                  "payout.created", "payout.succeeded", "payout.failed", "webhook_endpoint.disabled",
                                  "webhook_endpoint.test")


async def test_every_event_type_is_delivered_and_verifies(rt, http, hooks, merchant_id):
    receiver = hooks()
    _, secret = await add_endpoint(rt, merchant_id, receiver.url)
    payment = await new_payment(rt, merchant_id)
    event_ids = await emit(rt, payment, *ALL_TYPES)

    await drain(rt, http)

    assert receiver.ids() == event_ids  # each once, in commit order (one payment)
    for (headers, body), event_id, event_type in zip(receiver.requests, event_ids, ALL_TYPES, strict=True):
        payload = Webhook(secret).verify(body, headers)
        assert payload["id"] == event_id == headers["webhook-id"]
        assert payload["type"] == event_type
        assert set(payload) == {"id", "type", "created_at", "data"}
        assert payload["created_at"].endswith("Z")
        data = payload["data"]
        assert data["id"] == payment.id and data["address"] == payment.address and data["chain"] == "anvil"
        assert headers["content-type"] == "application/json"
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        version, sig = headers["webhook-signature"].split(",", 1)
        assert version == "v1" and len(base64.b64decode(sig)) == 32  # one HMAC-SHA256


async def test_a_tampered_body_or_another_secret_does_not_verify(rt, http, hooks, merchant_id):
    receiver = hooks()
    _, secret = await add_endpoint(rt, merchant_id, receiver.url)
    _, other_secret = await add_endpoint(rt, merchant_id, hooks().url)
    await emit(rt, await new_payment(rt, merchant_id), "payment.confirmed")
    await drain(rt, http)

    [(headers, body)] = receiver.requests
    Webhook(secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"payment.confirmed", b"payment.canceled"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(other_secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**headers, "webhook-id": "evt_forged"})


async def test_an_endpoint_gets_only_the_types_it_subscribed_to(rt, http, hooks, merchant_id):
    everything, confirmed_only = hooks(), hooks()
    await add_endpoint(rt, merchant_id, everything.url)
    await add_endpoint(rt, merchant_id, confirmed_only.url, ["payment.confirmed"])
    await emit(rt, await new_payment(rt, merchant_id), "payment.detected", "payment.confirmed")
    await drain(rt, http)

    assert [e["type"] for e in everything.events()] == ["payment.detected", "payment.confirmed"]
    assert [e["type"] for e in confirmed_only.events()] == ["payment.confirmed"]


async def test_a_payout_event_carries_the_payout_object(rt, http, hooks, merchant_id):
    receiver = hooks()
    _, secret = await add_endpoint(rt, merchant_id, receiver.url, ["payout.created"])
    chains = rt.chain_configs()
    async with rt.sessions() as s, s.begin():
        payout = await create_payout(s, rt.settings, chains, SecretBox.from_settings(rt.settings), merchant_id,
                                     PayoutRequest("anvil", "ETH", "0x00bee00000000000000000000000000000000009", "0.5"))
    await drain(rt, http)
    [(headers, body)] = receiver.requests
    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "payout.created" and set(payload) == {"id", "type", "created_at", "data"}
    data = payload["data"]
    assert (data["object"], data["id"], data["amount"], data["status"]) == ("payout", payout.id, "0.5", "pending")
