"""Events over the API: listing with delivery attempts, filters, and redelivery."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ctrip_core.db.models import Delivery, DeliveryAttempt
from ctrip_core.db.types import utcnow

PAYMENT = {"chain": "anvil", "asset": "TUSD", "amount": "3"}


async def _canceled_payment(client, merchant) -> dict:
    payment = await (await client.post("/v1/payments", json=PAYMENT, headers=merchant["headers"])).get_json()
    response = await client.post(f"/v1/payments/{payment['id']}/cancel", headers=merchant["headers"])
    assert response.status_code == 200
    return await response.get_json()


async def _events(client, merchant, query: str = "") -> dict:
    response = await client.get(f"/v1/events{query}", headers=merchant["headers"])
    assert response.status_code == 200, await response.get_data()
    return await response.get_json()


async def _endpoint(client, merchant, events=None) -> dict:
    body = {"url": "https://merchant.example/hook", **({"events": events} if events is not None else {})}
    response = await client.post("/v1/webhook-endpoints", json=body, headers=merchant["headers"])
    assert response.status_code == 201
    return await response.get_json()


async def test_a_new_merchant_has_no_events(client, merchant):
    assert await _events(client, merchant) == {"object": "list", "data": [], "has_more": False}


async def test_cancel_records_an_event_with_the_payment_and_no_attempts(client, merchant):
    payment = await _canceled_payment(client, merchant)
    listed = await _events(client, merchant)
    assert listed["has_more"] is False and len(listed["data"]) == 1
    event = listed["data"][0]
    assert event["id"].startswith("evt_") and event["object"] == "event"
    assert event["type"] == "payment.canceled" and event["payment_id"] == payment["id"]
    assert event["created_at"].endswith("Z")
    assert event["data"]["id"] == payment["id"] and event["data"]["status"] == "canceled"
    assert event["data"]["amount_base_units"] == "3000000"
    assert event["attempts"] == []


async def test_filters_by_payment_and_type_newest_first(client, merchant):
    first = await _canceled_payment(client, merchant)
    second = await _canceled_payment(client, merchant)
    everything = await _events(client, merchant)
    assert [e["payment_id"] for e in everything["data"]] == [second["id"], first["id"]]
    by_payment = await _events(client, merchant, f"?payment_id={first['id']}")
    assert [e["payment_id"] for e in by_payment["data"]] == [first["id"]]
    assert len((await _events(client, merchant, "?type=payment.canceled"))["data"]) == 2
    assert (await _events(client, merchant, "?type=payment.confirmed"))["data"] == []
    assert (await _events(client, merchant, "?payment_id=pay_unknown"))["data"] == []
    both = await _events(client, merchant, f"?payment_id={second['id']}&type=payment.canceled")
    assert [e["payment_id"] for e in both["data"]] == [second["id"]]
    page = await _events(client, merchant, "?limit=1")
    assert len(page["data"]) == 1 and page["has_more"] is True
    assert page["data"][0]["payment_id"] == second["id"]


@pytest.mark.parametrize(("query", "field"), [("?type=payment.refunded", "type"), ("?limit=0", "limit"),
                                              ("?limit=101", "limit"), ("?limit=abc", "limit")])
async def test_bad_filters_are_422(client, merchant, query, field):
    response = await client.get(f"/v1/events{query}", headers=merchant["headers"])
    assert response.status_code == 422, await response.get_data()
    assert (await response.get_json())["error"]["field"] == field


async def test_redeliver_queues_one_delivery_per_subscribed_endpoint(runtime, client, merchant):
    payment = await _canceled_payment(client, merchant)
    event = (await _events(client, merchant, f"?payment_id={payment['id']}"))["data"][0]

    nothing = await client.post(f"/v1/events/{event['id']}/redeliver", headers=merchant["headers"])
    assert nothing.status_code == 202 and await nothing.get_json() == {"event_id": event["id"], "deliveries": 0}

    everything = await _endpoint(client, merchant)
    canceled_only = await _endpoint(client, merchant, ["payment.canceled"])
    await _endpoint(client, merchant, ["payment.confirmed"])
    deleted = await _endpoint(client, merchant, ["payment.canceled"])
    gone = await client.delete(f"/v1/webhook-endpoints/{deleted['id']}", headers=merchant["headers"])
    assert gone.status_code == 200

    response = await client.post(f"/v1/events/{event['id']}/redeliver", headers=merchant["headers"])
    assert response.status_code == 202, await response.get_data()
    assert await response.get_json() == {"event_id": event["id"], "deliveries": 2}

    async with runtime.sessions() as session:
        queued = (await session.scalars(select(Delivery).where(Delivery.event_id == event["id"]))).all()
    assert sorted(d.endpoint_id for d in queued) == sorted([everything["id"], canceled_only["id"]])
    assert {d.state for d in queued} == {"pending"}


async def test_attempts_are_listed_with_their_event(runtime, client, merchant):
    payment = await _canceled_payment(client, merchant)
    endpoint = await _endpoint(client, merchant)
    event = (await _events(client, merchant, f"?payment_id={payment['id']}"))["data"][0]
    assert (await client.post(f"/v1/events/{event['id']}/redeliver", headers=merchant["headers"])).status_code == 202
    async with runtime.sessions() as session, session.begin():
        delivery = await session.scalar(select(Delivery).where(Delivery.event_id == event["id"]))
        session.add(DeliveryAttempt(delivery_id=delivery.id, attempt=1, status_code=500, latency_ms=12,
                                    error="HTTP 500", created_at=utcnow()))
    listed = (await _events(client, merchant, f"?payment_id={payment['id']}"))["data"][0]
    assert len(listed["attempts"]) == 1
    attempt = listed["attempts"][0]
    assert attempt["attempt"] == 1 and attempt["endpoint_id"] == endpoint["id"]
    assert attempt["status_code"] == 500 and attempt["latency_ms"] == 12 and attempt["error"] == "HTTP 500"
    assert attempt["created_at"].endswith("Z")
    async with runtime.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(Delivery)
                                     .where(Delivery.event_id == event["id"]))
    assert count == 1


async def test_redeliver_an_unknown_event_is_404(client, merchant):
    response = await client.post("/v1/events/evt_doesnotexist/redeliver", headers=merchant["headers"])
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "not_found"


async def test_redeliver_needs_post(client, merchant):
    response = await client.get("/v1/events/evt_x/redeliver", headers=merchant["headers"])
    assert response.status_code == 405
    assert (await response.get_json())["error"]["code"] == "method_not_allowed"
