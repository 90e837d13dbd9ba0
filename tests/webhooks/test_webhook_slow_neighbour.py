"""A slow webhook endpoint never holds up a healthy one (issue 14, hostile receivers).

The slow endpoint answers 200 at the very end of its deadline, every time. Through the real
`deliver_webhooks` actor (a Dramatiq `Worker` on a `StubBroker`, one worker thread, as
`ctrip worker --threads 1`, fed by the real `Scheduler` every `webhooks.poll_s`), a healthy endpoint
beside it receives a payment's N events, in order, in about the time N take with no slow neighbour,
while the slow endpoint is still on its first few. Before, a round waited for its slowest send, so
every event of the payment cost the healthy endpoint one slow deadline.
"""

from __future__ import annotations

import asyncio
import time

import dramatiq
import pytest
import pytest_asyncio
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware.asyncio import AsyncIO

from testbed import make_settings, new_merchant
from ctrip_core.jobs.actors import register_actors
from ctrip_core.jobs.context import JobContext
from ctrip_core.jobs.scheduler import Scheduler
from ctrip_core.plugins import collect_notifiers
from ctrip_core.services.webhooks.delivery_sender import DeliverySender
from ctrip_core.services.outbox.dispatch import dispatch_events
from webhooks_support import (WEBHOOK_DEFAULTS, add_endpoint, db_url, deliveries_of, emit, hooks,  # noqa: F401
                              http, new_payment, quiet_endpoints_after, rt, runtimes)

pytestmark = pytest.mark.timeout(120)

N = 8
TIMEOUT_S = 2.0
SLOW_S = 1.8  # answers 200 just inside the 2 s deadline of each attempt
TYPES = ["payment.detected", "payment.confirmed", "payment.swept", "payment.late"]


@pytest_asyncio.fixture
async def worker(db_url, chains_file):
    """The webhook actor on a stub broker, one worker thread, the scheduler enqueueing it."""
    settings = make_settings(db_url, chains_file,
                             webhooks={**WEBHOOK_DEFAULTS, "timeout_s": TIMEOUT_S, "poll_s": 0.25})
    broker = StubBroker()
    broker.add_middleware(AsyncIO())
    context = JobContext(settings, "scanner")
    broker.add_middleware(context)
    actors = register_actors(broker, context)
    jobs = dramatiq.Worker(broker, queues={"webhooks"}, worker_threads=1)
    jobs.start()
    stop = asyncio.Event()
    scheduling = asyncio.create_task(Scheduler({}, actors, webhook_interval_s=settings.webhooks.poll_s).run(stop))
    yield
    stop.set()
    await scheduling
    await asyncio.to_thread(jobs.stop)
    broker.close()


async def _events(rt, merchant_id: str) -> list[str]:
    """Commit N events of one new payment (each in its own transaction, in order)."""
    payment = await new_payment(rt, merchant_id)
    return await emit(rt, payment, *(TYPES[i % len(TYPES)] for i in range(N)))


async def _seconds_until(receiver, ids: list[str], started: float, limit_s: float = 60) -> float:
    while receiver.ids() != ids:
        assert len(receiver.ids()) <= len(ids) and receiver.ids() == ids[:len(receiver.ids())], "out of order"
        assert time.monotonic() - started < limit_s, f"{len(receiver.ids())} of {len(ids)} after {limit_s}s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_a_healthy_endpoint_is_not_held_up_by_a_slow_one(rt, hooks, worker):
    alone_id, _ = await new_merchant(rt)
    alone = hooks()
    await add_endpoint(rt, alone_id, alone.url)
    started = time.monotonic()
    alone_s = await _seconds_until(alone, await _events(rt, alone_id), started)

    merchant_id, _ = await new_merchant(rt)
    slow, healthy = hooks(), hooks()
    slow.delay_s = SLOW_S
    await add_endpoint(rt, merchant_id, slow.url)
    await add_endpoint(rt, merchant_id, healthy.url)
    started = time.monotonic()
    ids = await _events(rt, merchant_id)
    beside_slow_s = await _seconds_until(healthy, ids, started)
    slow_done = len(slow.requests)
    print(f"\n{N} events to a healthy endpoint: alone {alone_s:.2f} s, beside one answering after "
          f"{SLOW_S} s {beside_slow_s:.2f} s (the slow one had {slow_done} answered by then)")
    assert beside_slow_s <= 1.5 * alone_s + 1.0, (alone_s, beside_slow_s)
    assert slow_done < N // 2  # still in progress: each of its events takes a whole deadline
    assert slow.ids() == ids[:len(slow.ids())]  # and its own order holds


async def test_a_stopping_worker_finishes_and_records_its_sends_under_way(rt, hooks, http):
    """The job no longer waits for its sends, so the worker's shutdown (JobContext.close → sender.close)
    must: a send under way ends by its deadline and is recorded, not left to its lease (a duplicate)."""
    merchant_id, _ = await new_merchant(rt)
    receiver = hooks()
    receiver.delay_s = 0.5
    endpoint_id, _ = await add_endpoint(rt, merchant_id, receiver.url)
    [event_id] = await emit(rt, await new_payment(rt, merchant_id), "payment.confirmed")
    await dispatch_events(rt, collect_notifiers(rt.pm, rt.settings))
    sender = DeliverySender(rt, http)
    assert await sender.start_due() == 1
    await sender.close()
    assert receiver.ids() == [event_id]
    [delivery] = await deliveries_of(rt, endpoint_id)
    assert delivery.state == "succeeded" and delivery.attempts == 1
    assert await sender.start_due() == 0  # closed: claims nothing more
