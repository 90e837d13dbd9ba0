"""Operations routes (health, readiness, metrics, OpenAPI, docs), request ids and secret-free logs."""

from __future__ import annotations

import json
import logging
import os
import re

import pytest
from metrics_scrape import ON_METRICS_PORT

from ctrip_core.api import create_app
from ctrip_core.logs import JsonFormatter

PAYMENT = {"chain": "anvil", "asset": "TUSD", "amount": "1.25"}


async def test_health_is_ok_without_a_key(client):
    response = await client.get("/health")
    assert response.status_code == 200 and await response.get_json() == {"status": "ok"}


async def test_ready_when_everything_is_up(client, runtime):
    response = await client.get("/ready")
    assert response.status_code == 200, await response.get_data()
    body = await response.get_json()
    assert body["status"] == "ready"
    assert body["checks"] == {"database": "ok", "broker": "ok", **{f"chain:{n}": "ok" for n in runtime.chains}}


async def test_ready_is_503_naming_what_is_down(runtime):
    async def broker_down() -> str:
        return "no PONG"

    response = await create_app(runtime, broker_check=broker_down).test_client().get("/ready")
    assert response.status_code == 503
    body = await response.get_json()
    assert body["status"] == "not_ready"
    assert body["checks"]["broker"] == "down: no PONG"
    assert body["checks"]["database"] == "ok" and body["checks"]["chain:anvil"] == "ok"


async def test_ready_is_503_when_the_broker_check_raises(runtime):
    async def broker_unreachable() -> str | None:
        raise ConnectionRefusedError("redis refused")

    response = await create_app(runtime, broker_check=broker_unreachable).test_client().get("/ready")
    assert response.status_code == 503
    assert (await response.get_json())["checks"]["broker"] == "down: ConnectionRefusedError"


async def test_metrics_count_requests_by_route_and_status_and_payments_by_status(client, merchant):
    created = await client.post("/v1/payments", json=PAYMENT, headers=merchant["headers"])
    assert created.status_code == 201
    await client.get("/v1/payments/pay_nope", headers=merchant["headers"])
    response = await client.get("/metrics", **ON_METRICS_PORT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = (await response.get_data()).decode()
    assert "# TYPE ctrip_http_requests_total counter" in text
    assert re.search(r'ctrip_http_requests_total\{method="POST",route="/v1/payments",status="201"\} [1-9]', text)
    assert re.search(r'ctrip_http_requests_total\{method="GET",route="/v1/payments/<payment_id>",status="404"\} '
                     r'[1-9]', text)
    assert "ctrip_http_request_duration_seconds_bucket" in text
    pending = re.search(r'ctrip_payments\{chain="anvil",status="pending"\} ([0-9.]+)', text)
    assert pending and float(pending.group(1)) >= 1
    # route labels are rule templates, never raw paths (ids would make the label set unbounded)
    assert "pay_nope" not in text


async def test_unknown_routes_and_methods_use_the_error_shape(client):
    missing = await client.get("/nope")
    assert missing.status_code == 404
    assert await missing.get_json() == {"error": {"code": "not_found", "message": "no such route"}}
    wrong = await client.delete("/health")
    assert wrong.status_code == 405
    assert (await wrong.get_json())["error"]["code"] == "method_not_allowed"
    v1 = await client.get("/v1/nope")
    assert v1.status_code == 404 and (await v1.get_json())["error"]["code"] == "not_found"


# --- OpenAPI and docs ----------------------------------------------------------------------------------

def _app_operations(app) -> set[tuple[str, str]]:
    ops = set()
    for rule in app.url_map.iter_rules():
        if rule.rule == "/openapi.json":  # the document does not describe itself
            continue
        if rule.rule == "/dashboard" or rule.rule.startswith("/dashboard/"):  # a site, not the API (hidden)
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        ops |= {(m.lower(), path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return ops


@pytest.fixture
async def spec(client) -> dict:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return await response.get_json()


async def test_openapi_covers_every_route(app, spec):
    assert spec["openapi"].startswith("3.")
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert documented == _app_operations(app)
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op["responses"], f"{method} {path} documents no response"
            assert op.get("summary"), f"{method} {path} has no summary"


async def test_openapi_enums_are_the_models_vocabulary(spec):
    """Statuses and states in /openapi.json come from db/models.py (and the outbox's event types), not a copy."""
    from ctrip_core.db.models import ENDPOINT_STATUSES, PAYMENT_STATUSES, SWEEP_STATES, TRANSFER_SOURCES, TRANSFER_STATES
    from ctrip_core.services.outbox.events import EVENT_TYPES

    schemas = {name: schema.get("properties", {}) for name, schema in spec["components"]["schemas"].items()}
    assert schemas["PaymentOut"]["status"]["enum"] == list(PAYMENT_STATUSES)
    assert schemas["TransferOut"]["state"]["enum"] == list(TRANSFER_STATES)
    assert schemas["TransferOut"]["source"]["enum"] == list(TRANSFER_SOURCES)
    assert schemas["SweepOut"]["state"]["enum"] == ["none", *SWEEP_STATES]
    assert schemas["WebhookEndpointOut"]["status"]["enum"] == list(ENDPOINT_STATUSES)
    status = next(p for p in spec["paths"]["/v1/payments"]["get"]["parameters"] if p["name"] == "status")
    assert list(PAYMENT_STATUSES) in [s.get("enum") for s in [status["schema"], *status["schema"].get("anyOf", [])]]
    body = spec["paths"]["/v1/webhook-endpoints"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    events = json.dumps(_resolve(spec, body)["properties"]["events"])
    assert json.dumps(list(EVENT_TYPES)) in events


async def test_openapi_documents_bodies_errors_and_auth(spec):
    assert spec["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert spec["security"] == [{"bearer": []}]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if not path.startswith("/v1/"):
                assert op.get("security") == [], f"{method} {path} is unauthenticated"
                continue
            assert "security" not in op
            assert {"400", "401", "422", "429"} <= set(op["responses"]), f"{method} {path}"
            if "{" in path:
                assert "404" in op["responses"], f"{method} {path}"
            error = op["responses"]["401"]["content"]["application/json"]["schema"]
            assert "error" in _resolve(spec, error)["properties"]
    for path in ("/v1/payments", "/v1/webhook-endpoints"):
        body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        body = _resolve(spec, body)
        assert body["additionalProperties"] is False
    create = _resolve(spec, spec["paths"]["/v1/payments"]["post"]["requestBody"]["content"]["application/json"]
                      ["schema"])
    assert not create.get("required")  # chain + asset + amount, chain + asset + price, or price alone (open)
    assert {"type": "string"}.items() <= create["properties"]["amount"]["anyOf"][0].items()
    assert "price" in create["properties"] and "503" in spec["paths"]["/v1/payments"]["post"]["responses"]
    params = {p["name"] for p in spec["paths"]["/v1/payments"]["get"]["parameters"]}
    assert params >= {"status", "chain", "order_id", "limit", "starting_after"}
    assert "413" in spec["paths"]["/v1/payments"]["post"]["responses"]
    assert "503" in spec["paths"]["/ready"]["get"]["responses"]


def _resolve(spec: dict, schema: dict) -> dict:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return spec["components"]["schemas"][name]
    return schema


async def test_docs_are_self_contained_html(client):
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    page = (await response.get_data()).decode()
    assert "/v1/payments" in page and "/v1/webhook-endpoints/{endpoint_id}" in page
    assert not re.search(r"""<(script|link|img|iframe)[^>]*(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", page, re.I)


# --- request ids and logs ---------------------------------------------------------------------------------

async def test_request_id_is_echoed_when_safe(client):
    response = await client.get("/health", headers={"X-Request-Id": "abc-123.DEF_4"})
    assert response.headers["X-Request-Id"] == "abc-123.DEF_4"


@pytest.mark.parametrize("incoming", [None, "", "has space", "<script>", "x" * 65, "a\u00e9b"])
async def test_request_id_is_generated_otherwise(client, incoming):
    headers = {} if incoming is None else {"X-Request-Id": incoming}
    response = await client.get("/health", headers=headers)
    generated = response.headers["X-Request-Id"]
    assert re.fullmatch(r"req_[0-9a-f]{20}", generated)
    other = await client.get("/health", headers=headers)
    assert other.headers["X-Request-Id"] != generated


async def test_errors_carry_a_request_id_too(client):
    response = await client.get("/v1/payments")
    assert response.status_code == 401 and response.headers["X-Request-Id"].startswith("req_")


async def test_logs_hold_no_secret(client, merchant, caplog):
    caplog.set_level(logging.DEBUG)
    headers = {**merchant["headers"], "X-Request-Id": "log-check-1"}
    created = await client.post("/v1/payments", json=PAYMENT, headers=headers)
    assert created.status_code == 201
    endpoint = await client.post("/v1/webhook-endpoints", json={"url": "https://merchant.example/hook"},
                                 headers=headers)
    assert endpoint.status_code == 201
    secret = (await endpoint.get_json())["secret"]
    assert (await client.get("/v1/payments", headers={"Authorization": "Bearer " + merchant["key"] + "x"})
            ).status_code == 401

    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    access = [line for line in lines if '"logger": "ctrip.access"' in line and "log-check-1" in line]
    assert any('"route": "/v1/payments"' in line and '"status": 201' in line for line in access), lines
    assert any('"route": "/v1/webhook-endpoints"' in line for line in access)
    assert all(json.loads(line)["pid"] == os.getpid() for line in access)  # which of the API workers
    everything = "\n".join(lines) + "\n".join(str(vars(record)) for record in caplog.records)
    assert merchant["key"] not in everything
    assert merchant["key"].removeprefix("ctrip_sk_") not in everything
    assert secret not in everything and secret.removeprefix("whsec_") not in everything
