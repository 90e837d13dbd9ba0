"""The hostile-input corpus (`hostile_corpus.py`) against the real app on PostgreSQL: each case is
the 4xx it names, one line naming its field or header, and nothing is stored (no payment, no
webhook endpoint, no idempotency row). Then the limits that need the real server: a body that never
arrives is answered within `api.body_timeout_s`, measured on a raw socket against `ctrip api`.
"""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest
from testbed import make_settings, new_merchant
from hostile_corpus import CORPUS, STANDARD, Case, payment
from sqlalchemy import func, select
from test_concurrency import LiveApi
from werkzeug.datastructures import Headers

from ctrip_core.db.models import IdempotencyKey, Payment, WebhookEndpoint
from ctrip_core.runtime import build_runtime


async def _stored(runtime, merchant_id: str) -> dict[str, int]:
    async with runtime.sessions() as session:
        return {model.__tablename__: await session.scalar(
                    select(func.count()).select_from(model).where(model.merchant_id == merchant_id))
                for model in (Payment, WebhookEndpoint, IdempotencyKey)}


def _headers(case: Case, api_key: str) -> Headers:
    return Headers([(name, value.replace("{key}", api_key).replace("{case}", case.name))
                    for name, value in case.headers])


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
async def test_hostile_input_is_a_4xx_naming_the_field_and_stores_nothing(client, merchant, runtime, case):
    response = await client.open(case.path, method=case.method, headers=_headers(case, merchant["key"]),
                                 data=case.body)
    body = await response.get_data(as_text=True)
    assert response.status_code == case.status, body
    error = (await response.get_json())["error"]
    assert error.get("field") == case.field, error
    assert error["message"] and "\n" not in error["message"] and len(error["message"]) < 200, error
    assert await _stored(runtime, merchant["id"]) == {"payments": 0, "webhook_endpoints": 0,
                                                      "idempotency_keys": 0}


@pytest.mark.parametrize("extra", [
    pytest.param(b'"order_id":"\\ud83d\\ude00","metadata":{"\\ud83d\\udc4d":"caf\\u00e9"}', id="surrogate-pairs"),
    pytest.param(b'"metadata":' + b'{"a":' * 2 + b'"x"' + b"}" * 2, id="nested-within-limit"),
    pytest.param(b'"metadata":{"k":"[[[[{{{{"}', id="brackets-inside-strings"),
    pytest.param(b'"redirect_url":"https://shop.example:8443/done?o=1#top"', id="redirect-url-with-port"),
])
async def test_the_strict_decoder_still_takes_what_is_valid(client, merchant, extra):
    """Valid surrogate pairs (an emoji), brackets inside strings, a URL with a port are not refused."""
    response = await client.post("/v1/payments", data=payment(extra),
                                 headers={**merchant["headers"], "Content-Type": "application/json"})
    assert response.status_code in (201, 422), await response.get_data()
    if response.status_code == 422:  # nesting within the depth limit still meets the schema's own rules
        assert (await response.get_json())["error"]["field"] == "metadata.a"


# --- the body that never arrives, on a real `ctrip api` ------------------------------------------

BODY_TIMEOUT_S = 1


@pytest.fixture(scope="module")
def live_api(chains_file, tmp_path_factory):
    api = LiveApi(chains_file, tmp_path_factory.mktemp("hostile_api") / "ctrip-api.log", workers=1,
                  env={"CTRIP_API__BODY_TIMEOUT_S": str(BODY_TIMEOUT_S)})
    api.start()

    async def merchant_key() -> str:
        rt = build_runtime(make_settings(api.db_url, chains_file), "api")
        try:
            return (await new_merchant(rt, "hostile"))[1]
        finally:
            await rt.close()

    try:
        api.api_key = asyncio.run(merchant_key())
        yield api
    finally:
        api.stop()


BODY_CASES = [c for c in CORPUS if c.headers == STANDARD]


@pytest.mark.parametrize("case", BODY_CASES, ids=[c.name for c in BODY_CASES])
def test_hostile_bodies_through_hypercorn(live_api, case):
    """The same bodies through `ctrip api`: Hypercorn's process, where json.loads' recursion limit
    is Python's default (the test process's is raised by py_ecc, which hid the RecursionError)."""
    headers = [(name, value.replace("{key}", live_api.api_key).replace("{case}", case.name))
               for name, value in case.headers]
    response = httpx.request(case.method, live_api.base_url + case.path, headers=headers, content=case.body)
    assert response.status_code == case.status, response.text
    assert response.json()["error"].get("field") == case.field, response.text


def _slow_body(port: int, api_key: str, body: bytes, declared: int, sent: int, drip_s: float) -> tuple[float, bytes]:
    """POST `body` declaring `declared` bytes: `sent` bytes at once, then one byte every `drip_s`
    (0: none) while the server listens; → (seconds from the headers until the server closed, answer)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(30)
        sock.sendall(b"POST /v1/payments HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " + api_key.encode()
                     + b"\r\nContent-Type: application/json\r\nContent-Length: " + str(declared).encode()
                     + b"\r\n\r\n" + body[:sent])
        started, answer = time.monotonic(), b""
        for byte in body[sent:] if drip_s else b"":
            sock.settimeout(drip_s)
            try:
                answer += sock.recv(65536)
                break  # the server answered (and closes)
            except TimeoutError:
                sock.sendall(bytes([byte]))
        sock.settimeout(30)
        while chunk := sock.recv(65536):
            answer += chunk
        return time.monotonic() - started, answer


@pytest.mark.parametrize(("declared", "drip_s"), [(100, 0), (None, 0.3)], ids=["stalled", "trickling"])
def test_a_body_not_received_in_time_is_a_408_within_the_body_timeout(live_api, declared, drip_s):
    """Issue 14: Quart waited 60 s (its BODY_TIMEOUT) for a body shorter than its Content-Length;
    now api.body_timeout_s bounds the whole read, however slowly the bytes trickle in."""
    body = payment()
    elapsed, answer = _slow_body(live_api.port, live_api.api_key, body, declared or len(body), 20, drip_s)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"code":"request_timeout"' in answer.replace(b" ", b""), answer
    assert BODY_TIMEOUT_S <= elapsed < BODY_TIMEOUT_S + 3, elapsed
