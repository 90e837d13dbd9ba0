"""Bearer API keys guard every /v1 route, and a merchant never sees another merchant's objects (404, not 403)."""

from __future__ import annotations

import json

import pytest

from ctrip_core.services.accounts.merchants import add_api_key, revoke_api_key

PAYMENT = {"chain": "anvil", "asset": "TUSD", "amount": "5", "order_id": "ISO-1", "metadata": {"secret": "m1"}}


def _v1_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) under /v1, with ids filled in."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/"):
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", "x_123")
        routes += [(method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


def test_the_app_has_the_v1_routes_of_the_contract(app):
    routes = set(_v1_routes(app))
    assert routes >= {("POST", "/v1/payments"), ("GET", "/v1/payments"), ("GET", "/v1/payments/x_123"),
                      ("POST", "/v1/payments/x_123/cancel"), ("GET", "/v1/chains"), ("GET", "/v1/events"),
                      ("POST", "/v1/events/x_123/redeliver"), ("POST", "/v1/webhook-endpoints"),
                      ("GET", "/v1/webhook-endpoints"), ("GET", "/v1/webhook-endpoints/x_123"),
                      ("DELETE", "/v1/webhook-endpoints/x_123")}


BAD_AUTH = [
    pytest.param({}, id="missing"),
    pytest.param({"Authorization": ""}, id="empty"),
    pytest.param({"Authorization": "Bearer"}, id="scheme-only"),
    pytest.param({"Authorization": "Bearer   "}, id="blank-token"),
    pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic-scheme"),
    pytest.param({"Authorization": "Token ctrip_sk_abc"}, id="token-scheme"),
    pytest.param({"Authorization": "Bearer ctrip_sk_" + "a" * 43}, id="unknown-key"),
    pytest.param({"Authorization": "Bearer " + "k" * 500}, id="overlong-key"),
]


async def _assert_401(response) -> None:
    assert response.status_code == 401, (response.status_code, await response.get_data())
    body = await response.get_json()
    assert body["error"]["code"] == "unauthorized" and body["error"]["message"]
    assert response.headers.get("WWW-Authenticate") == "Bearer"


@pytest.mark.parametrize("headers", BAD_AUTH)
async def test_every_v1_route_needs_a_valid_key(app, client, headers):
    routes = _v1_routes(app)
    assert len(routes) >= 11
    for method, path in routes:
        response = await client.open(path, method=method, headers=headers)
        await _assert_401(response)


async def test_an_unauthenticated_body_is_401_before_anything_is_read(client):
    """Content type and body are only looked at once the caller is known."""
    response = await client.post("/v1/payments", data=b"not json", headers={"Content-Type": "text/plain"})
    await _assert_401(response)
    response = await client.post("/v1/payments", json=PAYMENT, headers={"Authorization": "Bearer nope"})
    await _assert_401(response)


async def test_the_key_of_another_merchant_does_not_leak_the_key_owner(client, merchant, other_merchant):
    """A key's own merchant's objects only: listing with each key shows disjoint data."""
    mine = await client.post("/v1/payments", json=PAYMENT, headers=merchant["headers"])
    assert mine.status_code == 201
    listed = await (await client.get("/v1/payments", headers=other_merchant["headers"])).get_json()
    assert listed == {"object": "list", "data": [], "has_more": False}


async def test_a_revoked_key_stops_working_at_once(runtime, app, client, merchant):
    async with runtime.sessions() as session, session.begin():
        key_id, key = await add_api_key(session, merchant["id"])
    headers = {"Authorization": f"Bearer {key}"}
    created = await client.post("/v1/payments", json=PAYMENT, headers=headers)
    assert created.status_code == 201
    payment_id = (await created.get_json())["id"]
    assert (await client.get(f"/v1/payments/{payment_id}", headers=headers)).status_code == 200

    async with runtime.sessions() as session, session.begin():
        assert await revoke_api_key(session, key_id) is not None

    await _assert_401(await client.get(f"/v1/payments/{payment_id}", headers=headers))
    await _assert_401(await client.post("/v1/payments", json=PAYMENT, headers=headers))
    for method, path in _v1_routes(app):
        await _assert_401(await client.open(path, method=method, headers=headers))
    # the merchant's other key is untouched and still sees the payment
    assert (await client.get(f"/v1/payments/{payment_id}", headers=merchant["headers"])).status_code == 200
    async with runtime.sessions() as session, session.begin():
        assert await revoke_api_key(session, key_id) is None


# --- isolation ----------------------------------------------------------------------------------------

@pytest.fixture
async def owned(client, merchant):
    """The first merchant's payment, canceled payment (with its event) and webhook endpoint."""
    pending = await (await client.post("/v1/payments", json=PAYMENT, headers=merchant["headers"])).get_json()
    canceled = await (await client.post("/v1/payments", json={**PAYMENT, "order_id": "ISO-2"},
                                        headers=merchant["headers"])).get_json()
    assert (await client.post(f"/v1/payments/{canceled['id']}/cancel", headers=merchant["headers"])).status_code == 200
    endpoint = await (await client.post("/v1/webhook-endpoints", json={"url": "https://merchant.example/hook"},
                                        headers=merchant["headers"])).get_json()
    events = await (await client.get(f"/v1/events?payment_id={canceled['id']}",
                                     headers=merchant["headers"])).get_json()
    assert len(events["data"]) == 1
    return {"payment": pending, "canceled": canceled, "endpoint": endpoint, "event": events["data"][0]}


async def _assert_404_without_data(response, obj: dict) -> None:
    assert response.status_code == 404, (response.status_code, await response.get_data())
    body = await response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == "not_found"
    text = json.dumps(body)
    for value in (obj.get("address"), obj.get("url"), obj.get("order_id")):
        if value:
            assert value not in text


async def test_other_merchants_objects_are_404_on_every_route(client, merchant, other_merchant, owned):
    theirs = other_merchant["headers"]
    pay, endpoint, event = owned["payment"], owned["endpoint"], owned["event"]
    await _assert_404_without_data(await client.get(f"/v1/payments/{pay['id']}", headers=theirs), pay)
    await _assert_404_without_data(await client.post(f"/v1/payments/{pay['id']}/cancel", headers=theirs), pay)
    await _assert_404_without_data(await client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=theirs),
                                   endpoint)
    await _assert_404_without_data(await client.delete(f"/v1/webhook-endpoints/{endpoint['id']}", headers=theirs),
                                   endpoint)
    await _assert_404_without_data(await client.post(f"/v1/events/{event['id']}/redeliver", headers=theirs), event)

    # nothing the other merchant tried changed anything
    mine = merchant["headers"]
    assert (await (await client.get(f"/v1/payments/{pay['id']}", headers=mine)).get_json())["status"] == "pending"
    assert (await client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=mine)).status_code == 200
    got = await (await client.get(f"/v1/events?payment_id={owned['canceled']['id']}", headers=mine)).get_json()
    assert got["data"][0]["attempts"] == []


async def test_unknown_ids_answer_the_same_404_as_foreign_ones(client, other_merchant, owned):
    theirs = other_merchant["headers"]
    foreign = await client.get(f"/v1/payments/{owned['payment']['id']}", headers=theirs)
    unknown = await client.get("/v1/payments/pay_doesnotexist000000000", headers=theirs)
    assert foreign.status_code == unknown.status_code == 404
    assert (await foreign.get_json())["error"]["code"] == (await unknown.get_json())["error"]["code"]


async def test_lists_and_filters_never_show_the_other_merchants_objects(client, other_merchant, owned):
    theirs = other_merchant["headers"]
    own = await (await client.post("/v1/payments", json={**PAYMENT, "order_id": "ISO-1"}, headers=theirs)).get_json()

    async def data(path: str) -> list[dict]:
        response = await client.get(path, headers=theirs)
        assert response.status_code == 200, await response.get_data()
        return (await response.get_json())["data"]

    assert [p["id"] for p in await data("/v1/payments")] == [own["id"]]
    assert [p["id"] for p in await data("/v1/payments?order_id=ISO-1")] == [own["id"]]
    assert await data("/v1/payments?order_id=ISO-2") == []
    assert await data("/v1/payments?status=canceled") == []
    assert [p["id"] for p in await data("/v1/payments?chain=anvil&limit=100")] == [own["id"]]
    assert await data("/v1/events") == []
    assert await data(f"/v1/events?payment_id={owned['canceled']['id']}") == []
    assert await data("/v1/events?type=payment.canceled") == []
    assert await data("/v1/webhook-endpoints") == []
    # another merchant's payment is no cursor either
    cursor = await client.get(f"/v1/payments?starting_after={owned['payment']['id']}", headers=theirs)
    assert cursor.status_code == 422 and (await cursor.get_json())["error"]["field"] == "starting_after"
