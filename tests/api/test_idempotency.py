"""`Idempotency-Key` on POST /v1/payments (CONTRACT §3) over real PostgreSQL, through the in-process app.

The same key and body replay the first response byte for byte; another body is 409; keys are per
merchant, survive concurrency (one payment however many requests race), are not burnt by a failed
request, and are forgotten after 24 hours.
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select, update

from ctrip_core.db.models import IdempotencyKey, Payment
from ctrip_core.db.types import utcnow


def _key() -> str:
    return "idem-" + uuid.uuid4().hex


def _body(order_id: str, amount: str = "12.50") -> dict:
    return {"chain": "anvil", "asset": "TUSD", "amount": amount, "order_id": order_id}


async def _post(client, merchant, body: dict, key: str):
    return await client.post("/v1/payments", json=body,
                             headers={**merchant["headers"], "Idempotency-Key": key})


async def _payments(runtime, merchant_id: str, order_id: str) -> int:
    async with runtime.sessions() as session:
        return await session.scalar(select(func.count()).select_from(Payment)
                                    .where(Payment.merchant_id == merchant_id, Payment.order_id == order_id))


async def test_same_key_and_body_replays_the_first_response(client, merchant, runtime):
    key, order = _key(), "idem-replay"
    first = await _post(client, merchant, _body(order), key)
    second = await _post(client, merchant, _body(order), key)
    assert first.status_code == 201, await first.get_data()
    assert "Idempotent-Replayed" not in first.headers
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.headers["Content-Type"].startswith("application/json")
    assert await second.get_data() == await first.get_data()
    assert await _payments(runtime, merchant["id"], order) == 1


async def test_same_key_with_another_body_is_a_conflict(client, merchant, runtime):
    key, order = _key(), "idem-conflict"
    assert (await _post(client, merchant, _body(order), key)).status_code == 201
    other = await _post(client, merchant, _body(order, amount="13"), key)
    assert other.status_code == 409
    error = (await other.get_json())["error"]
    assert error["code"] == "idempotency_conflict" and error["field"] == "Idempotency-Key"
    assert await _payments(runtime, merchant["id"], order) == 1


async def test_keys_are_scoped_per_merchant(client, merchant, other_merchant, runtime):
    key, order = _key(), "idem-scoped"
    mine = await _post(client, merchant, _body(order), key)
    theirs = await _post(client, other_merchant, _body(order), key)
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert (await mine.get_json())["id"] != (await theirs.get_json())["id"]
    assert await _payments(runtime, merchant["id"], order) == 1
    assert await _payments(runtime, other_merchant["id"], order) == 1


async def test_concurrent_requests_with_one_key_create_one_payment(client, merchant, runtime):
    key, order = _key(), "idem-concurrent"
    responses = await asyncio.gather(*(_post(client, merchant, _body(order), key) for _ in range(10)))
    statuses = [r.status_code for r in responses]
    bodies = [await r.get_json() for r in responses]
    assert statuses == [201] * 10, bodies
    assert len({b["id"] for b in bodies}) == 1
    assert sum(1 for r in responses if "Idempotent-Replayed" not in r.headers) == 1
    assert await _payments(runtime, merchant["id"], order) == 1


async def test_a_failed_request_does_not_burn_the_key(client, merchant, runtime):
    key, order = _key(), "idem-failed"
    failed = await _post(client, merchant, _body(order, amount="-1"), key)  # service-level 422
    assert failed.status_code == 422 and (await failed.get_json())["error"]["field"] == "amount"
    invalid = await _post(client, merchant, {**_body(order), "amount": 12.5}, key)  # schema-level 422
    assert invalid.status_code == 422
    ok = await _post(client, merchant, _body(order), key)
    assert ok.status_code == 201 and "Idempotent-Replayed" not in ok.headers
    replay = await _post(client, merchant, _body(order), key)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert await _payments(runtime, merchant["id"], order) == 1


async def test_keys_older_than_24_hours_are_forgotten(client, merchant, runtime):
    key, order = _key(), "idem-expired"
    first = await _post(client, merchant, _body(order), key)
    assert first.status_code == 201
    async with runtime.sessions() as session, session.begin():
        from datetime import timedelta

        aged = await session.execute(update(IdempotencyKey)
                                     .where(IdempotencyKey.merchant_id == merchant["id"], IdempotencyKey.key == key)
                                     .values(created_at=utcnow() - timedelta(hours=24, minutes=1)))
        assert aged.rowcount == 1
    again = await _post(client, merchant, _body(order, amount="99"), key)  # no conflict: the key is gone
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert (await again.get_json())["id"] != (await first.get_json())["id"]
    assert await _payments(runtime, merchant["id"], order) == 2
    replay = await _post(client, merchant, _body(order, amount="99"), key)  # the fresh key now holds
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert (await replay.get_json())["id"] == (await again.get_json())["id"]


async def test_a_webhook_secret_is_never_stored_in_clear_and_still_replays(client, merchant, runtime):
    """Issue 14, defect 5: the replay of an endpoint create holds its whsec_ secret; it is stored sealed."""
    key, body = _key(), {"url": "https://hooks.example.com/ctrip"}
    headers = {**merchant["headers"], "Idempotency-Key": key}
    first = await client.post("/v1/webhook-endpoints", json=body, headers=headers)
    assert first.status_code == 201, await first.get_data()
    secret = (await first.get_json())["secret"]
    assert secret.startswith("whsec_")
    async with runtime.sessions() as session:
        stored = await session.scalar(select(IdempotencyKey.response_body)
                                      .where(IdempotencyKey.merchant_id == merchant["id"], IdempotencyKey.key == key))
    assert stored is not None and stored.startswith("sealed:")
    assert "whsec_" not in stored and secret not in stored and secret[len("whsec_"):] not in stored
    second = await client.post("/v1/webhook-endpoints", json=body, headers=headers)
    assert second.status_code == 201 and second.headers["Idempotent-Replayed"] == "true"
    assert await second.get_data() == await first.get_data()
