"""Over the API: redelivery (a new delivery of the same event, same `webhook-id`) and secret rotation
(both secrets verify during the window, only the new one after it), checked with `standardwebhooks`.
"""

from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from webhooks_support import (api, api_app, api_merchant, db_url, deliveries_of, drain, emit, execute,  # noqa: F401
                              hooks, http, new_payment, quiet_endpoints_after, rt, runtimes)


async def _endpoint(api, merchant, url: str) -> dict:
    response = await api.post("/v1/webhook-endpoints", json={"url": url}, headers=merchant["headers"])
    assert response.status_code == 201, await response.get_data()
    return await response.get_json()


async def test_redeliver_sends_the_same_event_again_with_the_same_id(rt, http, hooks, api, api_merchant):
    receiver = hooks()
    endpoint = await _endpoint(api, api_merchant, receiver.url)
    payment = await new_payment(rt, api_merchant["id"])
    [event_id] = await emit(rt, payment, "payment.confirmed")
    await drain(rt, http)
    assert receiver.ids() == [event_id]

    response = await api.post(f"/v1/events/{event_id}/redeliver", headers=api_merchant["headers"])
    assert response.status_code == 202
    assert (await response.get_json())["deliveries"] == 1
    await drain(rt, http)

    (first_headers, first_body), (again_headers, again_body) = receiver.requests
    assert first_headers["webhook-id"] == again_headers["webhook-id"] == event_id
    assert again_body == first_body
    assert Webhook(endpoint["secret"]).verify(again_body, again_headers)["id"] == event_id
    deliveries = await deliveries_of(rt, endpoint["id"])
    assert len({d.id for d in deliveries}) == 2 and {d.event_id for d in deliveries} == {event_id}
    assert [d.state for d in deliveries] == ["succeeded", "succeeded"]

    listed = await (await api.get(f"/v1/events?payment_id={payment.id}", headers=api_merchant["headers"])).get_json()
    assert [(a["attempt"], a["status_code"]) for a in listed["data"][0]["attempts"]] == [(1, 200), (1, 200)]

    missing = await api.post("/v1/events/evt_doesnotexist/redeliver", headers=api_merchant["headers"])
    assert missing.status_code == 404


async def test_rotation_window_then_only_the_new_secret(rt, http, hooks, api, api_merchant):
    receiver = hooks()
    endpoint = await _endpoint(api, api_merchant, receiver.url)
    old = endpoint["secret"]
    payment = await new_payment(rt, api_merchant["id"])

    await emit(rt, payment, "payment.detected")
    await drain(rt, http)

    response = await api.post(f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=api_merchant["headers"])
    assert response.status_code == 200, await response.get_data()
    new = (await response.get_json())["secret"]
    assert new.startswith("whsec_") and new != old
    got = await (await api.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=api_merchant["headers"])).get_json()
    assert got.get("secret") is None

    await emit(rt, payment, "payment.confirmed")
    await drain(rt, http)

    await execute(rt, "UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second' "
                      "WHERE id = :id", id=endpoint["id"])
    await emit(rt, payment, "payment.swept")
    await drain(rt, http)

    before, during, after = receiver.requests
    assert Webhook(old).verify(before[1], before[0])["type"] == "payment.detected"
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(before[1], before[0])

    assert len(during[0]["webhook-signature"].split(" ")) == 2  # one signature per valid secret
    assert Webhook(old).verify(during[1], during[0])["type"] == "payment.confirmed"
    assert Webhook(new).verify(during[1], during[0])["type"] == "payment.confirmed"

    assert len(after[0]["webhook-signature"].split(" ")) == 1
    assert Webhook(new).verify(after[1], after[0])["type"] == "payment.swept"
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after[1], after[0])
