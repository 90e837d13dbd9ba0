"""The public checkout's limits: a token bucket per client address (429 + Retry-After, other clients
unaffected, the API keys' buckets untouched) and a cap on open event streams per process (503, the
page then polls), whose slots come back however a stream ends."""

from __future__ import annotations

import asyncio

import pytest
from testbed import make_settings

from ctrip_core.api import create_app
from ctrip_core.api.ratelimit import MemoryRateLimiter
from ctrip_core.runtime import build_runtime

PAYMENT = {"chain": "anvil", "asset": "ETH", "amount": "1"}


@pytest.fixture
async def limited(migrated_pg_url, chains_file):
    """An app whose checkout allows a burst of 3 per client and 2 open streams, refilling slowly."""
    runtime = build_runtime(make_settings(migrated_pg_url, chains_file, api={
        "checkout_rate_limit_per_s": 0.5, "checkout_rate_limit_burst": 3, "checkout_max_streams": 2,
        "checkout_poll_s": 0.05, "checkout_stream_max_s": 30, "checkout_keepalive_s": 10}), "api")
    app = create_app(runtime, limiter=MemoryRateLimiter(100, 100))
    yield app
    await runtime.close()


def from_address(address: str) -> dict:
    return {"scope_base": {"client": (address, 40000)}}


async def a_payment(client, merchant) -> str:
    response = await client.post("/v1/payments", json=PAYMENT, headers=merchant["headers"])
    assert response.status_code == 201
    return (await response.get_json())["id"]


async def test_a_client_over_its_burst_gets_429_with_retry_after_and_others_do_not(limited, merchant):
    client = limited.test_client()
    payment_id = await a_payment(client, merchant)
    statuses = [(await client.get(f"/pay/{payment_id}/status", **from_address("198.51.100.7"))).status_code
                for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = await client.get(f"/pay/{payment_id}", **from_address("198.51.100.7"))
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["Content-Type"].startswith("text/plain")
    assert "Content-Security-Policy" in refused.headers  # still a /pay response
    assert (await client.get(f"/pay/{payment_id}/status", **from_address("198.51.100.8"))).status_code == 200
    # The merchant's API key has its own bucket: the payer's flood does not throttle the merchant.
    assert (await client.get(f"/v1/payments/{payment_id}", headers=merchant["headers"])).status_code == 200


async def test_streams_beyond_the_cap_get_503_and_slots_come_back(limited, merchant):
    client = limited.test_client()
    payment_id = await a_payment(client, merchant)
    state = limited.extensions["ctrip"]
    open_streams = []
    for address in ("203.0.113.1", "203.0.113.2"):
        connection = client.request(f"/pay/{payment_id}/events", **from_address(address))
        await connection.__aenter__()
        open_streams.append(connection)
    for _ in range(100):
        if state.checkout_streams == 2:
            break
        await asyncio.sleep(0.02)
    assert state.checkout_streams == 2

    full = await client.get(f"/pay/{payment_id}/events", **from_address("203.0.113.3"))
    assert full.status_code == 503 and full.headers["Retry-After"] == "5"
    assert (await client.get(f"/pay/{payment_id}/status", **from_address("203.0.113.3"))).status_code == 200

    for connection in open_streams:  # the payers close their tabs: their slots are given back
        await connection.disconnect()
        await asyncio.wait_for(connection.__aexit__(None, None, None), 5)
    for _ in range(100):
        if state.checkout_streams == 0:
            break
        await asyncio.sleep(0.02)
    assert state.checkout_streams == 0
    await client.post(f"/v1/payments/{payment_id}/cancel", headers=merchant["headers"])  # so the stream ends
    again = await asyncio.wait_for(client.get(f"/pay/{payment_id}/events", **from_address("203.0.113.3")), 5)
    assert again.status_code == 200
    await asyncio.wait_for(again.get_data(), 5)
    assert state.checkout_streams == 0


async def test_openapi_documents_429_on_every_checkout_route_and_503_on_events(client):
    spec = await (await client.get("/openapi.json")).get_json()
    checkout = {path: ops["get"] for path, ops in spec["paths"].items() if path.startswith("/pay")}
    assert checkout and all("429" in op["responses"] for op in checkout.values())
    assert "503" in checkout["/pay/{id}/events"]["responses"]
