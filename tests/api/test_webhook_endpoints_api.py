"""Webhook endpoints over the API: create (secret shown once, stored encrypted), list, get, delete."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import text

from ctrip_core.services.webhooks.secret_box import SecretBox
from ctrip_core.services.outbox.events import EVENT_TYPES

URL = "https://merchant.example/hooks/ctrip"


async def _create(client, merchant, **body):
    return await client.post("/v1/webhook-endpoints", json={"url": URL, **body}, headers=merchant["headers"])


async def test_create_shows_the_secret_once(runtime, client, merchant):
    response = await _create(client, merchant, events=["payment.confirmed", "payment.canceled"])
    assert response.status_code == 201, await response.get_data()
    created = await response.get_json()
    assert created["id"].startswith("we_") and created["object"] == "webhook_endpoint"
    assert created["url"] == URL and created["status"] == "enabled"
    assert created["events"] == ["payment.canceled", "payment.confirmed"]
    assert created["created_at"].endswith("Z")

    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) >= 24

    got = await (await client.get(f"/v1/webhook-endpoints/{created['id']}", headers=merchant["headers"])).get_json()
    assert got.get("secret") is None and got["id"] == created["id"] and got["url"] == URL
    listed = await (await client.get("/v1/webhook-endpoints", headers=merchant["headers"])).get_json()
    assert [e["id"] for e in listed["data"]] == [created["id"]]
    assert all(e.get("secret") is None for e in listed["data"])
    assert secret not in str(got) + str(listed)

    async with runtime.sessions() as session:
        stored = (await session.execute(text("SELECT secret_ciphertext FROM webhook_endpoints WHERE id = :id"),
                                        {"id": created["id"]})).scalar_one()
    assert secret not in stored and secret.removeprefix("whsec_") not in stored
    assert SecretBox.from_settings(runtime.settings).open(stored) == secret


async def test_each_endpoint_gets_its_own_secret(client, merchant):
    first = await (await _create(client, merchant)).get_json()
    second = await (await _create(client, merchant)).get_json()
    assert first["secret"] != second["secret"]
    assert first["events"] == [] and second["events"] == []  # no filter: every event type


async def test_all_event_types_are_accepted(client, merchant):
    response = await _create(client, merchant, events=list(EVENT_TYPES))
    assert response.status_code == 201 and (await response.get_json())["events"] == sorted(EVENT_TYPES)


@pytest.mark.parametrize("url", ["http://merchant.example/h", "https://merchant.example:8443/h?x=1"])
async def test_http_and_https_urls_are_accepted(client, merchant, url):
    response = await client.post("/v1/webhook-endpoints", json={"url": url}, headers=merchant["headers"])
    assert response.status_code == 201, await response.get_data()


@pytest.mark.parametrize("url", [
    pytest.param("ftp://merchant.example/h", id="ftp"),
    pytest.param("/hooks/ctrip", id="relative"),
    pytest.param("merchant.example/h", id="no-scheme"),
    pytest.param("https://user:pass@merchant.example/h", id="credentials"),
    pytest.param("https://user@merchant.example/h", id="username"),
    pytest.param("https:///h", id="no-host"),
    pytest.param("javascript:alert(1)", id="javascript"),
    pytest.param("", id="empty"),
    pytest.param("https://" + "a" * 2000 + ".example/", id="too-long"),
    pytest.param(42, id="number"),
    pytest.param(None, id="null"),
])
async def test_bad_url_is_422_on_url(client, merchant, url):
    response = await client.post("/v1/webhook-endpoints", json={"url": url}, headers=merchant["headers"])
    assert response.status_code == 422, await response.get_data()
    assert (await response.get_json())["error"]["field"] == "url"


@pytest.mark.parametrize("events", [["payment.refunded"], ["payment.confirmed", "charge.succeeded"],
                                    "payment.confirmed", [1]])
async def test_unknown_event_types_are_422(client, merchant, events):
    response = await _create(client, merchant, events=events)
    assert response.status_code == 422, await response.get_data()
    assert (await response.get_json())["error"]["field"].startswith("events")


async def test_unknown_fields_and_missing_url_are_422(client, merchant):
    extra = await _create(client, merchant, secret="whsec_mine")
    assert extra.status_code == 422 and (await extra.get_json())["error"]["field"] == "secret"
    missing = await client.post("/v1/webhook-endpoints", json={}, headers=merchant["headers"])
    assert missing.status_code == 422 and (await missing.get_json())["error"]["field"] == "url"


async def test_delete_then_get_is_404(client, merchant):
    created = await (await _create(client, merchant)).get_json()
    path = f"/v1/webhook-endpoints/{created['id']}"
    deleted = await client.delete(path, headers=merchant["headers"])
    assert deleted.status_code == 200
    assert await deleted.get_json() == {"id": created["id"], "deleted": True}
    gone = await client.get(path, headers=merchant["headers"])
    assert gone.status_code == 404 and (await gone.get_json())["error"]["code"] == "not_found"
    again = await client.delete(path, headers=merchant["headers"])
    assert again.status_code == 404
    listed = await (await client.get("/v1/webhook-endpoints", headers=merchant["headers"])).get_json()
    assert listed["data"] == []


async def test_unknown_endpoint_is_404(client, merchant):
    for method in ("GET", "DELETE"):
        response = await client.open("/v1/webhook-endpoints/we_nope", method=method, headers=merchant["headers"])
        assert response.status_code == 404 and (await response.get_json())["error"]["code"] == "not_found"


async def test_list_is_newest_first(client, merchant):
    ids = [(await (await _create(client, merchant)).get_json())["id"] for _ in range(3)]
    listed = await (await client.get("/v1/webhook-endpoints", headers=merchant["headers"])).get_json()
    assert [e["id"] for e in listed["data"]] == list(reversed(ids))
