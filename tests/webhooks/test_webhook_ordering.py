"""In order per payment and endpoint: a later event of a payment waits while an earlier one is
retried; other payments' events, and other endpoints, keep flowing meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
import time

from ctrip_core.plugins import collect_notifiers
from ctrip_core.services.webhooks import deliveries
from ctrip_core.services.webhooks.deliveries import ENDPOINT_CONCURRENCY
from ctrip_core.services.webhooks.delivery_sender import LANE_MIN, DeliverySender
from ctrip_core.services.outbox.dispatch import dispatch_events
from webhooks_support import (add_endpoint, attempts_of, db_url, drain, emit, hooks, http, make_due,  # noqa: F401
                              merchant_id, new_payment, one_round, quiet_endpoints_after, rt, runtimes)


async def test_a_retried_event_holds_back_its_payment_only(rt, http, hooks, merchant_id, monkeypatch):
    monkeypatch.setattr(deliveries, "next_delay", lambda attempts: 3600.0)  # retries come by make_due only
    flaky, steady = hooks(), hooks()
    failures = {"left": 2}
    endpoint_id, _ = await add_endpoint(rt, merchant_id, flaky.url)
    await add_endpoint(rt, merchant_id, steady.url)
    a, b = await new_payment(rt, merchant_id), await new_payment(rt, merchant_id)
    a1, a2, a3 = await emit(rt, a, "payment.detected", "payment.confirmed", "payment.swept")
    b1, b2 = await emit(rt, b, "payment.detected", "payment.confirmed")

    def answer(event: dict) -> int | None:
        if event["id"] == a1 and failures["left"]:
            failures["left"] -= 1
            return 500
        return None

    flaky.answer = answer

    for _ in range(4):  # no retry is due: a1 waits out its backoff on the flaky endpoint
        await one_round(rt, http)
    assert flaky.ids() == [a1, b1, b2] or flaky.ids() == [b1, a1, b2]
    assert a2 not in flaky.ids() and a3 not in flaky.ids()  # held back behind a1
    steady_ids = steady.ids()  # the other endpoint is not held back by the flaky one
    assert sorted(steady_ids) == sorted([a1, a2, a3, b1, b2])
    assert [i for i in steady_ids if i in (a1, a2, a3)] == [a1, a2, a3]
    assert [i for i in steady_ids if i in (b1, b2)] == [b1, b2]

    for _ in range(2):  # a1's two retries: one more 500, then acknowledged
        await make_due(rt, endpoint_id)
        await one_round(rt, http)
    await drain(rt, http)

    assert [i for i in flaky.ids() if i in (a1, a2, a3)] == [a1, a1, a1, a2, a3]
    assert [i for i in flaky.ids() if i in (b1, b2)] == [b1, b2]
    statuses = [(event_id, a.status_code) for event_id, a in await attempts_of(rt, endpoint_id)]
    assert statuses.index((a1, 200)) < statuses.index((a2, 200)) < statuses.index((a3, 200))


async def test_concurrent_workers_keep_order_and_send_each_event_once(runtimes, http, hooks, merchant_id):
    """Two workers (separate connection pools) draining at once: no event sent twice, order kept."""
    worker_a, worker_b = runtimes(), runtimes()
    receiver = hooks()
    await add_endpoint(worker_a, merchant_id, receiver.url)
    payments = [await new_payment(worker_a, merchant_id) for _ in range(15)]
    expected = {}
    for p in payments:
        expected[p.id] = await emit(worker_a, p, "payment.detected", "payment.confirmed", "payment.swept")

    async def work(rt) -> None:
        for _ in range(12):
            await one_round(rt, http)

    await asyncio.gather(work(worker_a), work(worker_b))
    await drain(worker_a, http)

    got = receiver.events()
    assert len(got) == 45 and len({e["id"] for e in got}) == 45
    for payment_id, ids in expected.items():
        assert [e["id"] for e in got if e["data"]["id"] == payment_id] == ids


async def test_requests_in_flight_per_endpoint_are_capped_across_overlapping_jobs(rt, http, hooks, merchant_id):
    slow_a, slow_b = hooks(), hooks()
    slow_a.delay_s = slow_b.delay_s = 0.25
    slow_a.gate = slow_b.gate = gate = threading.Event()  # held until the claims are counted, however slow
    await add_endpoint(rt, merchant_id, slow_a.url)
    await add_endpoint(rt, merchant_id, slow_b.url)
    count = 2 * ENDPOINT_CONCURRENCY + 5
    for _ in range(count):
        await emit(rt, await new_payment(rt, merchant_id), "payment.confirmed")
    await dispatch_events(rt, collect_notifiers(rt.pm, rt.settings))

    sender = DeliverySender(rt, http)  # the worker process's, which every job kicks
    started = sum(await asyncio.gather(*(sender.start_due(limit=15) for _ in range(4))))  # overlapping jobs
    assert started <= 2 * LANE_MIN * ENDPOINT_CONCURRENCY  # the claims take what the two lanes have room for
    gate.set()
    deadline = time.monotonic() + 30
    while len(slow_a.requests) + len(slow_b.requests) < 2 * count:  # no more jobs: the sender refills itself
        assert time.monotonic() < deadline, (len(slow_a.requests), len(slow_b.requests))
        await asyncio.sleep(0.05)
    await sender.close()
    assert len(slow_a.requests) == len(slow_b.requests) == count
    for receiver in (slow_a, slow_b):  # each endpoint got several at once, never more than the cap
        assert ENDPOINT_CONCURRENCY // 2 <= receiver.max_in_flight <= ENDPOINT_CONCURRENCY, receiver.max_in_flight
