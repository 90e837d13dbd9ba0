"""At least once, never lost: the outbox and the delivery rows live in the database, so neither a
Redis restart nor a worker killed mid-send loses an event.

- In-process: a claimed delivery whose worker dies before sending (or before recording) is leased,
  not lost: once the lease is aged (SQL), the next round sends it.
- Real processes: `ctrip worker --queues webhooks` and `ctrip scheduler` on a dedicated, non-persistent
  `redis-server`; Redis is killed (losing every queued message) after an event's commit and restarted;
  a worker is SIGKILLed while the receiver holds its request.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker
from standardwebhooks.webhooks import Webhook

from ctrip_core.db.types import utcnow
from ctrip_core.devnet.anvil import free_port
from ctrip_core.jobs.actors import register_actors
from ctrip_core.jobs.context import JobContext
from ctrip_core.services.webhooks.deliveries import claim_due
from ctrip_core.services.webhooks.delivery_sender import deliver_due
from ctrip_core.services.webhooks.secret_box import SecretBox
from subprocesses import ctrip_env
from webhooks_support import (Procs, RedisServer, add_endpoint, attempts_of, db_url,  # noqa: F401
                              deliveries_of, emit, execute, hooks, http, merchant_id, new_payment, one_round,
                              quiet_endpoints_after, rt, runtimes, wait_for)
from testbed import make_settings

pytestmark = pytest.mark.timeout(60)


# --- the lease, in process ---------------------------------------------------------------------------

async def test_a_worker_dying_after_its_claim_leaves_a_lease_not_a_loss(rt, http, hooks, merchant_id):
    receiver = hooks()
    endpoint_id, secret = await add_endpoint(rt, merchant_id, receiver.url)
    [event_id] = await emit(rt, await new_payment(rt, merchant_id), "payment.confirmed")
    await one_round(rt, http)  # dispatch; the delivery is sent (once) and acknowledged...
    receiver.requests.clear()
    await execute(rt, "UPDATE deliveries SET state = 'pending', next_attempt_at = now() - interval '1 second' "
                      "WHERE endpoint_id = :e", e=endpoint_id)  # ...and put back as owed, to claim it again

    [delivery] = await deliveries_of(rt, endpoint_id)
    claimed = await claim_due(rt, 500)  # a worker claims it, then is killed before sending anything
    assert delivery.id in claimed
    [leased] = await deliveries_of(rt, endpoint_id)
    lease = timedelta(seconds=rt.settings.webhooks.timeout_s + 30)
    assert utcnow() + lease - timedelta(seconds=5) < leased.next_attempt_at <= utcnow() + lease

    assert await deliver_due(rt, http) == 0 and receiver.requests == []  # another worker leaves it alone

    await execute(rt, "UPDATE deliveries SET next_attempt_at = now() - interval '1 second' WHERE id = :id",
                  id=delivery.id)  # the lease runs out
    await one_round(rt, http)
    [(headers, body)] = receiver.requests
    assert Webhook(secret).verify(body, headers)["id"] == event_id
    [done] = await deliveries_of(rt, endpoint_id)
    assert done.state == "succeeded"


async def test_a_secret_sealed_under_a_lost_key_is_an_attempt_that_names_it_never_an_unsigned_post(
        rt, http, hooks, merchant_id):
    receiver = hooks()
    endpoint_id, _ = await add_endpoint(rt, merchant_id, receiver.url)
    foreign = SecretBox("another-deployment-key-" + "k" * 20 + "0123456789", None).seal("whsec_" + "A" * 43)
    await execute(rt, "UPDATE webhook_endpoints SET secret_ciphertext = :c WHERE id = :e", c=foreign, e=endpoint_id)
    await emit(rt, await new_payment(rt, merchant_id), "payment.confirmed")
    await one_round(rt, http)
    assert receiver.requests == []
    [(_, attempt)] = await attempts_of(rt, endpoint_id)
    assert attempt.status_code is None and attempt.error.startswith("not sent: a stored secret cannot be decrypted")
    [delivery] = await deliveries_of(rt, endpoint_id)
    assert delivery.state == "pending" and delivery.next_attempt_at > utcnow()  # retried on its schedule


# --- real processes --------------------------------------------------------------------------------

@pytest.fixture
def redis_server():
    server = RedisServer(free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def procs(tmp_path, db_url, chains_file, redis_server):
    p = Procs(tmp_path, ctrip_env(db_url, chains_file, redis_server.url, CTRIP_WEBHOOKS__POLL_S="0.05",
                                  CTRIP_WEBHOOKS__TIMEOUT_S="10", CTRIP_WEBHOOKS__ALLOW_PRIVATE_TARGETS="true"))
    yield p
    p.stop_all()


async def test_redis_restarted_between_commit_and_enqueue_loses_nothing(rt, hooks, merchant_id, redis_server,
                                                                        procs, db_url, chains_file):
    receiver = hooks()
    _, secret = await add_endpoint(rt, merchant_id, receiver.url)
    payment = await new_payment(rt, merchant_id)
    [detected] = await emit(rt, payment, "payment.detected")  # committed: the outbox row exists

    # The job is enqueued, then Redis restarts without persistence: the message is gone.
    settings = make_settings(db_url, chains_file, redis_url=redis_server.url)
    broker = RedisBroker(url=redis_server.url)  # not get_broker(): leave Dramatiq's global broker alone
    try:
        register_actors(broker, JobContext(settings, "scanner")).webhooks.send()
    finally:
        broker.close()
    client = redis.Redis.from_url(redis_server.url)
    assert client.llen("dramatiq:webhooks") == 1
    redis_server.stop()
    redis_server.start()
    assert client.llen("dramatiq:webhooks") == 0
    client.close()

    procs.start("worker", "--queues", "webhooks")
    procs.start("scheduler")
    await wait_for(lambda: receiver.ids() == [detected], 30, "the event committed before the restart", procs)

    # Redis dies with both processes running; an event committed while it is down still goes out.
    redis_server.stop()
    [confirmed] = await emit(rt, payment, "payment.confirmed")
    time.sleep(0.3)
    redis_server.start()
    await wait_for(lambda: receiver.ids() == [detected, confirmed], 30, "the event committed while Redis was down",
                   procs)
    for headers, body in receiver.requests:
        Webhook(secret).verify(body, headers)


async def test_a_worker_killed_mid_delivery_delivers_again(rt, http, hooks, merchant_id, procs):
    receiver = hooks()
    receiver.delay_s = 1.0  # the receiver holds the request while the worker is killed
    endpoint_id, secret = await add_endpoint(rt, merchant_id, receiver.url)
    [event_id] = await emit(rt, await new_payment(rt, merchant_id), "payment.confirmed")

    worker = procs.start("worker", "--queues", "webhooks")
    procs.start("scheduler")
    await wait_for(lambda: receiver.arrived == 1, 30, "the worker's request", procs)
    Procs.kill(worker)  # SIGKILL to its process group: the send never returns, nothing is recorded
    receiver.delay_s = 0

    [delivery] = await deliveries_of(rt, endpoint_id)
    assert delivery.state == "pending" and delivery.attempts == 0  # leased, not lost
    assert await attempts_of(rt, endpoint_id) == []
    await execute(rt, "UPDATE deliveries SET next_attempt_at = now() - interval '1 second' WHERE id = :id",
                  id=delivery.id)  # the lease runs out (timeout + 30 s in production)

    await one_round(rt, http)  # the next worker
    await wait_for(lambda: len(receiver.requests) == 2, 10, "the killed request to finish on the receiver side")
    assert receiver.ids() == [event_id, event_id]  # at least once: the same webhook-id twice
    for headers, body in receiver.requests:
        Webhook(secret).verify(body, headers)
    [delivery] = await deliveries_of(rt, endpoint_id)
    assert delivery.state == "succeeded" and delivery.attempts == 1
