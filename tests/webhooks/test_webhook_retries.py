"""Failed attempts are recorded and retried: a receiver that is down, slow past the timeout, or
answering 500/302/410; the backoff schedule; `failed` after `webhooks.max_attempts`.

Retries are made due with SQL (`make_due`) instead of waiting out the backoff.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from sqlalchemy import select

from ctrip_core.db.models import Event
from ctrip_core.db.types import utcnow
from ctrip_core.devnet.anvil import free_port
from ctrip_core.services.webhooks.deliveries import (BASE_DELAY_S, MAX_DELAY_S, RETRY_SPAN, next_delay,
                                            nominal_schedule)
from webhooks_support import (add_endpoint, api, api_app, api_merchant, attempts_of, db_url,  # noqa: F401
                              deliveries_of, drain, emit, endpoint_row, execute, hooks, http, make_due, merchant_id,
                              new_payment, one_round, quiet_endpoints_after, rounds, rt, runtimes)


# --- the schedule ------------------------------------------------------------------------------

def test_nominal_schedule_doubles_from_5_s_and_caps_at_4_h():
    schedule = nominal_schedule(20)
    assert len(schedule) == 19  # one delay before each retry
    assert schedule[:5] == [5, 10, 20, 40, 80]
    assert schedule == [min(MAX_DELAY_S, BASE_DELAY_S * 2 ** n) for n in range(19)]
    assert max(schedule) == 4 * 3600 and schedule[-1] == 4 * 3600
    assert sum(schedule) >= RETRY_SPAN.total_seconds()  # the ceilings alone span a day


def test_next_delay_is_equal_jitter_in_the_upper_half_of_the_ceiling():
    rng = random.Random(7)
    for attempts, ceiling in enumerate(nominal_schedule(20), start=1):
        delays = [next_delay(attempts, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)  # never an immediate retry
        assert min(delays) < ceiling * 0.6 and max(delays) > ceiling * 0.9  # spread over [c/2, c]


# --- receivers that fail --------------------------------------------------------------------------

async def test_receiver_down_then_up_gets_each_event_once_in_order(rt, http, hooks, merchant_id):
    port = free_port()
    endpoint_id, secret = await add_endpoint(rt, merchant_id, f"http://127.0.0.1:{port}/hooks")
    event_ids = await emit(rt, await new_payment(rt, merchant_id),
                           "payment.detected", "payment.confirmed", "payment.swept")

    await rounds(rt, http, 3, age_endpoint=endpoint_id)  # nothing listens: connection refused, 3 times
    attempts = await attempts_of(rt, endpoint_id)
    assert [event_id for event_id, _ in attempts] == [event_ids[0]] * 3  # the later events wait their turn
    assert all(a.status_code is None and a.error.startswith("ConnectError") for _, a in attempts)
    assert (await endpoint_row(rt, endpoint_id)).failing_since is not None

    receiver = hooks(port)  # the receiver comes up on that port
    await make_due(rt, endpoint_id)
    await drain(rt, http)

    assert receiver.ids() == event_ids  # each once it is acknowledged, in order
    for headers, body in receiver.requests:
        Webhook(secret).verify(body, headers)
    assert [(d.state, d.attempts) for d in await deliveries_of(rt, endpoint_id)] == \
        [("succeeded", 4), ("succeeded", 1), ("succeeded", 1)]
    assert (await endpoint_row(rt, endpoint_id)).failing_since is None  # a success clears it


async def test_scripted_500s_are_retried_until_acknowledged(rt, http, hooks, merchant_id):
    receiver = hooks()
    receiver.script(500, 500)
    endpoint_id, _ = await add_endpoint(rt, merchant_id, receiver.url)
    first, second = await emit(rt, await new_payment(rt, merchant_id), "payment.detected", "payment.confirmed")

    await rounds(rt, http, 4, age_endpoint=endpoint_id)

    assert receiver.ids() == [first, first, first, second]
    attempts = [(event_id, a.attempt, a.status_code, a.error, a.response_body) for event_id, a in
                await attempts_of(rt, endpoint_id)]
    assert attempts == [(first, 1, 500, "HTTP 500", "ok"), (first, 2, 500, "HTTP 500", "ok"),
                        (first, 3, 200, None, "ok"), (second, 1, 200, None, "ok")]


async def test_a_slow_receiver_times_out_and_is_retried(runtimes, http, hooks, merchant_id):
    rt = runtimes(webhooks={"timeout_s": 0.3})
    receiver = hooks()
    receiver.delay_s = 0.6
    endpoint_id, _ = await add_endpoint(rt, merchant_id, receiver.url)
    [event_id] = await emit(rt, await new_payment(rt, merchant_id), "payment.confirmed")

    started = time.monotonic()
    await one_round(rt, http)
    assert time.monotonic() - started < 0.6  # did not wait for the answer

    [(_, attempt)] = await attempts_of(rt, endpoint_id)
    assert attempt.error == "timeout" and attempt.status_code is None and 300 <= attempt.latency_ms < 600
    [delivery] = await deliveries_of(rt, endpoint_id)
    assert delivery.state == "pending" and delivery.attempts == 1
    assert utcnow() <= delivery.next_attempt_at <= utcnow() + timedelta(seconds=BASE_DELAY_S)

    receiver.delay_s = 0
    await make_due(rt, endpoint_id)
    await one_round(rt, http)
    [delivery] = await deliveries_of(rt, endpoint_id)
    assert delivery.state == "succeeded" and delivery.attempts == 2
    for _ in range(50):  # the slow first request lands after its 0.6 s sleep
        if len(receiver.requests) == 2:
            break
        await asyncio.sleep(0.05)
    assert receiver.ids() == [event_id, event_id]  # the same webhook-id twice: receivers deduplicate


@pytest.mark.parametrize("status", [500, 302, 410])
async def test_a_non_2xx_answer_is_a_failure_recorded_with_its_status(rt, http, hooks, api, api_merchant, status):
    elsewhere = hooks()  # the redirect's target: must never be hit
    receiver = hooks(location=elsewhere.url)
    receiver.default_status = status
    endpoint_id, _ = await add_endpoint(rt, api_merchant["id"], receiver.url)
    payment = await new_payment(rt, api_merchant["id"])
    [event_id] = await emit(rt, payment, "payment.confirmed")

    await rounds(rt, http, 2, age_endpoint=endpoint_id)

    assert receiver.ids() == [event_id, event_id] and elsewhere.requests == []
    [delivery] = await deliveries_of(rt, endpoint_id)
    assert delivery.state == "pending" and delivery.attempts == 2 and delivery.next_attempt_at > utcnow()

    listed = await (await api.get(f"/v1/events?payment_id={payment.id}", headers=api_merchant["headers"])).get_json()
    [event] = listed["data"]
    assert [(a["attempt"], a["endpoint_id"], a["status_code"], a["error"]) for a in event["attempts"]] == \
        [(1, endpoint_id, status, f"HTTP {status}"), (2, endpoint_id, status, f"HTTP {status}")]
    assert all(isinstance(a["latency_ms"], int) and a["latency_ms"] >= 0 for a in event["attempts"])


# --- giving up -----------------------------------------------------------------------------------

async def test_after_max_attempts_the_delivery_is_failed_and_the_next_event_goes(runtimes, http, hooks, merchant_id):
    rt = runtimes(webhooks={"max_attempts": 3})
    receiver = hooks()
    receiver.default_status = 500
    endpoint_id, _ = await add_endpoint(rt, merchant_id, receiver.url)
    first, second = await emit(rt, await new_payment(rt, merchant_id), "payment.detected", "payment.confirmed")

    await one_round(rt, http)
    await make_due(rt, endpoint_id)
    await one_round(rt, http)
    head = (await deliveries_of(rt, endpoint_id))[0]
    assert head.attempts == 2 and head.state == "pending"
    assert head.next_attempt_at >= head.created_at + RETRY_SPAN  # the last try comes a day after the first

    receiver.default_status = 200
    await make_due(rt, endpoint_id)
    receiver.script(500)  # the third and last attempt fails too
    await one_round(rt, http)
    head, tail = await deliveries_of(rt, endpoint_id)
    assert (head.state, head.attempts, head.next_attempt_at) == ("failed", 3, None)

    await make_due(rt, endpoint_id)
    await drain(rt, http)
    assert receiver.ids() == [first, first, first, second]  # no 4th try; the failed one no longer blocks
    head, tail = await deliveries_of(rt, endpoint_id)
    assert (head.state, head.attempts, tail.state, tail.attempts) == ("failed", 3, "succeeded", 1)


# --- disabling -----------------------------------------------------------------------------------

async def events_of(rt, merchant_id: str, event_type: str) -> list[Event]:
    async with rt.sessions() as s:
        return list(await s.scalars(select(Event).where(Event.merchant_id == merchant_id, Event.type == event_type)))


async def test_an_endpoint_failing_for_3_days_is_disabled(rt, http, hooks, api, api_merchant):
    receiver, everything, confirmed_only = hooks(), hooks(), hooks()
    receiver.default_status = 503
    endpoint_id, secret = await add_endpoint(rt, api_merchant["id"], receiver.url)
    others = [(await add_endpoint(rt, api_merchant["id"], everything.url))[0],
              (await add_endpoint(rt, api_merchant["id"], confirmed_only.url, ["payment.confirmed"]))[0]]
    payment = await new_payment(rt, api_merchant["id"])
    await emit(rt, payment, "payment.detected")

    await one_round(rt, http)
    assert (await endpoint_row(rt, endpoint_id)).failing_since is not None
    await execute(rt, "UPDATE webhook_endpoints SET failing_since = now() - interval '3 days' + interval '1 minute' "
                      "WHERE id = :id", id=endpoint_id)
    await rounds(rt, http, 1, age_endpoint=endpoint_id)  # failing for a minute short of 3 days: still on
    assert (await endpoint_row(rt, endpoint_id)).status == "enabled"

    await execute(rt, "UPDATE webhook_endpoints SET failing_since = now() - interval '3 days' WHERE id = :id",
                  id=endpoint_id)
    await rounds(rt, http, 1, age_endpoint=endpoint_id)
    endpoint = await endpoint_row(rt, endpoint_id)
    assert endpoint.status == "disabled" and endpoint.disabled_at is not None
    got = await (await api.get(f"/v1/webhook-endpoints/{endpoint_id}", headers=api_merchant["headers"])).get_json()
    assert got["status"] == "disabled"

    (disabled,) = await events_of(rt, api_merchant["id"], "webhook_endpoint.disabled")  # with the change itself
    data = disabled.payload["data"]
    assert data == {k: v for k, v in got.items() if k != "secret"}  # the API's endpoint object, less the secret
    assert data["id"] == endpoint_id and data["status"] == "disabled" and data["failing_since"] and data["disabled_at"]
    assert "secret" not in data and secret.removeprefix("whsec_") not in json.dumps(disabled.payload)

    sent = len(receiver.requests)
    receiver.default_status = 200
    await emit(rt, payment, "payment.confirmed")
    await rounds(rt, http, 2, age_endpoint=endpoint_id)
    assert len(receiver.requests) == sent == 3  # nothing more goes to a disabled endpoint, not even its notice
    await drain(rt, http)
    # one notice to the endpoint taking every type (no order across payments: it has none), none
    # to the one listing only payment.confirmed
    assert sorted(e["type"] for e in everything.events()) == ["payment.confirmed", "payment.detected",
                                                              "webhook_endpoint.disabled"]
    assert [e["data"] for e in everything.events() if e["type"] == "webhook_endpoint.disabled"] == [data]
    assert [e["type"] for e in confirmed_only.events()] == ["payment.confirmed"]
    assert len(await events_of(rt, api_merchant["id"], "webhook_endpoint.disabled")) == 1
    for other in others:
        assert (await endpoint_row(rt, other)).status == "enabled"


async def test_a_success_before_3_days_resets_the_failing_clock(rt, http, hooks, merchant_id):
    receiver = hooks()
    receiver.script(500)
    endpoint_id, _ = await add_endpoint(rt, merchant_id, receiver.url)
    await emit(rt, await new_payment(rt, merchant_id), "payment.detected", "payment.confirmed")
    await one_round(rt, http)
    await execute(rt, "UPDATE webhook_endpoints SET failing_since = now() - interval '2 days' WHERE id = :id",
                  id=endpoint_id)
    await make_due(rt, endpoint_id)
    await drain(rt, http)
    endpoint = await endpoint_row(rt, endpoint_id)
    assert endpoint.status == "enabled" and endpoint.failing_since is None
