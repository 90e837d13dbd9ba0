"""/openapi.json as a reference: every field and parameter described, examples, the Idempotency-Key
on each POST, the webhook events as OpenAPI `webhooks` that what is really sent validates against,
and every $ref resolving (issue 20; that it holds exactly the app's routes: test_ops_routes.py). /docs itself: test_docs_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jsonschema_rs import Draft202012Validator
from sqlalchemy import select

from ctrip_core.api import idempotency
from ctrip_core.api.webhook_docs import WHEN
from ctrip_core.db.models import Event, Payment, WebhookEndpoint
from ctrip_core.db.types import utcnow
from ctrip_core.services.outbox.events import EVENT_TYPES, record_payment_event
from ctrip_core.services.webhooks.endpoint_events import endpoint_event
from ctrip_core.services.webhooks.signing import signed_headers
from testbed import key_headers

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
async def spec(client) -> dict:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return await response.get_json()


def operations(spec: dict):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def undescribed(schema: dict, where: str) -> list[str]:
    """Every property under `schema` (nested objects, arrays, unions) with no description."""
    found = []
    for name, prop in (schema.get("properties") or {}).items():
        if not prop.get("description"):
            found.append(f"{where}.{name}")
        found += undescribed(prop, f"{where}.{name}")
    for key in ("items", "additionalProperties", "contentSchema"):
        if isinstance(schema.get(key), dict):
            found += undescribed(schema[key], where)
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key) or []:
            found += undescribed(branch, where)
    return found


def refs(node) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if isinstance(node.get("$ref"), str) else []) + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_the_checker_sees_a_missing_description():
    schema = {"properties": {"a": {"description": "x", "anyOf": [{"properties": {"b": {}}}]},
                             "c": {"type": "array", "items": {"properties": {"d": {"description": "y"}}}}}}
    assert undescribed(schema, "S") == ["S.a.b", "S.c"]


async def test_every_field_of_every_object_is_described(spec):
    missing = [f for name, schema in spec["components"]["schemas"].items() for f in undescribed(schema, name)]
    for path, method, op in operations(spec):
        for where, body in [("body", op.get("requestBody") or {})] + list(op["responses"].items()):
            for media in (body.get("content") or {}).values():
                missing += undescribed(media.get("schema", {}), f"{method} {path} {where}")
    for event_type, item in spec["webhooks"].items():
        missing += undescribed(item["post"]["requestBody"]["content"]["application/json"]["schema"], event_type)
    assert missing == []


async def test_every_parameter_is_described_and_path_ids_have_examples(spec):
    for path, method, op in operations(spec):
        for parameter in op.get("parameters", []):
            assert parameter.get("description") or parameter["schema"].get("description"), (method, path, parameter)
            if parameter["in"] == "path":
                assert parameter.get("example"), (method, path, parameter["name"])


async def test_objects_show_examples(spec):
    payment = spec["components"]["schemas"]["PaymentOut"]["properties"]
    assert payment["id"]["examples"][0].startswith("pay_")
    assert payment["amount_base_units"]["examples"] == ["12500000"]
    assert re.fullmatch(r"0x[0-9a-fA-F]{40}", payment["address"]["examples"][0])
    payout = spec["components"]["schemas"]["PayoutOut"]["properties"]
    assert payout["id"]["examples"][0].startswith("po_") and payout["tx_hash"]["examples"]


async def test_each_post_documents_the_idempotency_key_and_honours_it(spec, app):
    posts = [(path, op) for path, method, op in operations(spec) if method == "post"]
    assert len(posts) >= 8
    for path, op in posts:
        names = [p["name"] for p in op.get("parameters", [])]
        assert names.count("Idempotency-Key") == 1, path
        assert "409" in op["responses"], path  # the key reused with another body
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods and not rule.rule.startswith("/dashboard/"):  # the API's (not the site's): where
            # documented, the handler really is @idempotent
            assert getattr(app.view_functions[rule.endpoint], idempotency.HONOURS_KEY, False), rule.rule


async def test_the_documented_key_is_the_one_the_api_reads(client, runtime, merchant):
    headers = merchant["headers"] | {"Idempotency-Key": "reference-check"}
    first = await client.post("/v1/payments", json={"chain": "anvil", "asset": "ETH", "amount": "1"}, headers=headers)
    again = await client.post("/v1/payments", json={"chain": "anvil", "asset": "ETH", "amount": "1"}, headers=headers)
    assert first.status_code == 201 and (await again.get_json())["id"] == (await first.get_json())["id"]
    other = await client.post("/v1/payments", json={"chain": "anvil", "asset": "ETH", "amount": "2"}, headers=headers)
    assert other.status_code == 409 and (await other.get_json())["error"]["field"] == "Idempotency-Key"


async def test_webhooks_one_per_event_type_with_the_signature_headers(spec):
    assert set(spec["webhooks"]) == set(EVENT_TYPES) == set(WHEN) and len(spec["webhooks"]) == len(EVENT_TYPES)
    sent = set(signed_headers(["whsec_" + "A" * 32], "evt_x", 1, b"{}"))
    for event_type, item in spec["webhooks"].items():
        operation = item["post"]
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= headers <= sent, event_type
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body["properties"]["type"] == {"const": event_type, "description": "The event type."}
        assert "2XX" in operation["responses"]


def test_docs_webhooks_page_lists_every_event_type():
    page = (DOCS / "webhooks.md").read_text()
    assert [t for t in EVENT_TYPES if f"| `{t}` |" not in page] == []


def _validator(spec: dict, event_type: str) -> Draft202012Validator:
    body = spec["webhooks"][event_type]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return Draft202012Validator(body | {"components": spec["components"]})


async def test_what_is_sent_validates_against_the_documented_webhook(spec, client, runtime, merchant):
    created = await client.post("/v1/payments", json={"chain": "anvil", "asset": "ETH", "amount": "1",
                                                      "order_id": "o-1", "metadata": {"k": "v"}},
                                headers=merchant["headers"])
    async with runtime.sessions() as session:
        payment = await session.get(Payment, (await created.get_json())["id"])
        event = await record_payment_event(session, payment, "payment.detected")
        await session.rollback()
    errors = [e.message for e in _validator(spec, "payment.detected").iter_errors(event.payload)]
    assert errors == []
    assert list(_validator(spec, "payment.confirmed").iter_errors(event.payload))  # its type is pinned

    payouts = await key_headers(runtime, merchant["id"], ["read", "payouts"])
    payout = await client.post("/v1/payouts", json={"chain": "anvil", "asset": "ETH", "amount": "0.1",
                                                    "address": "0x00bEE00000000000000000000000000000000001"},
                               headers=payouts)
    assert payout.status_code == 201
    async with runtime.sessions() as session:
        sent = await session.scalar(select(Event).where(Event.type == "payout.created",
                                                        Event.merchant_id == merchant["id"]))
    assert [e.message for e in _validator(spec, "payout.created").iter_errors(sent.payload)] == []


async def test_a_disabled_endpoints_event_validates_and_carries_no_secret(spec, client, merchant):
    created = await (await client.post("/v1/webhook-endpoints", json={"url": "https://shop.example/hooks"},
                                       headers=merchant["headers"])).get_json()
    endpoint = WebhookEndpoint(id=created["id"], merchant_id=merchant["id"], url=created["url"], events=[],
                               status="disabled", created_at=utcnow(), failing_since=utcnow(), disabled_at=utcnow())
    event = endpoint_event(endpoint, "disabled")
    assert [e.message for e in _validator(spec, "webhook_endpoint.disabled").iter_errors(event.payload)] == []
    assert "secret" not in event.payload["data"] and created["secret"] not in str(event.payload)


async def test_every_ref_resolves(spec):
    names = set(spec["components"]["schemas"])
    for ref in refs(spec):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in names, ref


async def test_sections_cover_every_operation(spec):
    sections = {tag["name"] for tag in spec["tags"]}
    for path, method, op in operations(spec):
        assert len(op["tags"]) == 1 and op["tags"][0] in sections, (method, path)
    assert spec["info"]["description"].startswith("cTrip is a self-hosted")


async def test_a_test_event_validates_and_carries_no_secret(spec, client, runtime, merchant):
    from ctrip_core.services.webhooks.test_event import send_test_event

    created = await (await client.post("/v1/webhook-endpoints", json={"url": "https://shop.example/test"},
                                       headers=merchant["headers"])).get_json()
    async with runtime.sessions() as session, session.begin():
        event = await send_test_event(session, merchant["id"], created["id"])
        payload = event.payload
    assert [e.message for e in _validator(spec, "webhook_endpoint.test").iter_errors(payload)] == []
    assert "secret" not in payload["data"] and created["secret"] not in str(payload)
