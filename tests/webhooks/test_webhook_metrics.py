"""The worker's webhook metrics: the backlog (`ctrip_webhook_deliveries_due`, `..._oldest_due_seconds`)
counted from the database, and each recorded attempt counted by result (`ctrip_webhook_attempts_total`)."""

from __future__ import annotations

from prometheus_client import generate_latest

from ctrip_core.db.types import utcnow
from ctrip_core.devnet.anvil import free_port
from ctrip_core.jobs.metrics import BACKLOG_EVERY_S, JobMetrics
from ctrip_core.services.webhooks.deliveries import due_backlog
from ctrip_core.services.webhooks.delivery_sender import DeliverySender
from ctrip_core.services.outbox.dispatch import dispatch_events
from ctrip_core.plugins import collect_notifiers
from webhooks_support import (add_endpoint, db_url, emit, hooks, http, make_due, merchant_id,  # noqa: F401
                              new_payment, quiet_endpoints_after, rt, runtimes)


async def test_backlog_and_attempts_by_result(rt, http, hooks, merchant_id):
    down = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens: every attempt fails
    receiver = hooks()
    down_id, _ = await add_endpoint(rt, merchant_id, down)
    up_id, _ = await add_endpoint(rt, merchant_id, receiver.url)
    await emit(rt, await new_payment(rt, merchant_id), "payment.detected", "payment.confirmed")
    await dispatch_events(rt, collect_notifiers(rt.pm, rt.settings))

    count, oldest_s = await due_backlog(rt, utcnow())
    assert count == 4 and oldest_s >= 0  # two events to two endpoints, none sent yet

    metrics = JobMetrics()
    sender = DeliverySender(rt, http, refill=False, on_recorded=metrics.webhook_outcomes)
    try:
        for _ in range(2):  # in order per payment: the second event of each endpoint after the first
            await make_due(rt, down_id)
            await sender.start_due()
            await sender.wait()
    finally:
        await sender.close()
    assert metrics.webhook_attempts.labels("ok")._value.get() == 2
    assert metrics.webhook_attempts.labels("failed")._value.get() == 2

    await make_due(rt, down_id)
    count, oldest_s = await due_backlog(rt, utcnow())
    assert count == 2  # the failing endpoint still owes both events; the receiver has both
    metrics.webhook_backlog(count, oldest_s)
    text = generate_latest(metrics.registry).decode()
    assert "ctrip_webhook_deliveries_due 2.0" in text and "ctrip_webhook_oldest_due_seconds" in text


def test_the_backlog_is_counted_at_most_every_few_seconds():
    metrics = JobMetrics()
    assert metrics.backlog_due(100.0)
    assert not metrics.backlog_due(100.0 + BACKLOG_EVERY_S / 2)
    assert metrics.backlog_due(100.0 + BACKLOG_EVERY_S)
