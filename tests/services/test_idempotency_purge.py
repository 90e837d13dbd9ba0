"""Idempotency keys live `idempotency.ttl_s`, then are purged by a job (issue 14, defect 5), on
PostgreSQL and SQLite: a key replays within its TTL; past it the API treats it as new even before
the purge runs; `purge_expired` deletes exactly the rows past it; the `purge_idempotency_keys` actor
(real, on a `StubBroker` with a `Worker`, per Dramatiq's guide) runs it; the scheduler enqueues it
every `idempotency.purge_every_s`; after the purge the key is free for another body.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import dramatiq
import pytest
import pytest_asyncio
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware.asyncio import AsyncIO
from sqlalchemy import select, update

from testbed import create_database, drop_database, make_settings, new_merchant
from ctrip_core.api import create_app
from ctrip_core.db import migrate
from ctrip_core.db.models import IdempotencyKey
from ctrip_core.db.types import utcnow
from ctrip_core.jobs.actors import Actors, register_actors
from ctrip_core.jobs.context import JobContext
from ctrip_core.jobs.scheduler import Scheduler
from ctrip_core.runtime import build_runtime
from ctrip_core.services.idempotency_keys import purge_expired

TTL = timedelta(hours=1)
IDEMPOTENCY = {"ttl_s": int(TTL.total_seconds()), "purge_every_s": 600}

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('idempotency') / 'ctrip.db'}"
        migrate.upgrade(url)
        yield url
        return
    url = create_database()
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
def settings(db_url, chains_file):
    return make_settings(db_url, chains_file, idempotency=IDEMPOTENCY)


@pytest_asyncio.fixture(scope="module")
async def rt(settings):
    runtime = build_runtime(settings, "api")
    yield runtime
    await runtime.close()


@pytest_asyncio.fixture(scope="module")
async def merchant(rt) -> dict:
    merchant_id, key = await new_merchant(rt)
    return {"id": merchant_id, "headers": {"Authorization": f"Bearer {key}"}}


@pytest.fixture
def client(rt):
    return create_app(rt).test_client()


def _key() -> str:
    return "purge-" + uuid.uuid4().hex


async def _post(client, merchant, key: str, amount: str = "1.5"):
    return await client.post("/v1/payments", json={"chain": "anvil", "asset": "ETH", "amount": amount},
                             headers={**merchant["headers"], "Idempotency-Key": key})


async def _age(rt, merchant, key: str, age: timedelta) -> None:
    async with rt.sessions() as s, s.begin():
        aged = await s.execute(update(IdempotencyKey).where(IdempotencyKey.merchant_id == merchant["id"],
                                                            IdempotencyKey.key == key)
                               .values(created_at=utcnow() - age))
        assert aged.rowcount == 1


async def _keys(rt, merchant) -> set[str]:
    async with rt.sessions() as s:
        return set(await s.scalars(select(IdempotencyKey.key).where(IdempotencyKey.merchant_id == merchant["id"])))


async def test_a_key_replays_within_its_ttl_and_is_new_past_it_before_any_purge(rt, client, merchant):
    key = _key()
    first = await _post(client, merchant, key)
    assert first.status_code == 201
    await _age(rt, merchant, key, TTL - timedelta(minutes=1))
    replay = await _post(client, merchant, key)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert (await replay.get_json())["id"] == (await first.get_json())["id"]

    await _age(rt, merchant, key, TTL + timedelta(minutes=1))  # the setting's TTL, not a fixed 24 h
    again = await _post(client, merchant, key, amount="2")  # another body: no 409, the key is new
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert (await again.get_json())["id"] != (await first.get_json())["id"]


async def test_purge_expired_deletes_exactly_the_keys_past_their_ttl(rt, merchant):
    now = utcnow()
    ages = {"stale": TTL + timedelta(seconds=1), "live": TTL - timedelta(seconds=1), "new": timedelta(0)}
    keys = {name: _key() for name in ages}
    async with rt.sessions() as s, s.begin():
        s.add_all(IdempotencyKey(merchant_id=merchant["id"], key=keys[name], request_hash="0" * 64,
                                 response_status=201, response_body="{}", created_at=now - age)
                  for name, age in ages.items())
    async with rt.sessions() as s, s.begin():
        purged = await purge_expired(s, now, TTL)
    remaining = await _keys(rt, merchant)
    assert keys["stale"] not in remaining and {keys["live"], keys["new"]} <= remaining
    assert purged >= 1
    async with rt.sessions() as s, s.begin():
        assert await purge_expired(s, now, TTL) == 0  # nothing left past its TTL


async def test_the_actor_purges_and_the_key_is_free_again(rt, client, merchant, settings):
    key = _key()
    assert (await _post(client, merchant, key)).status_code == 201
    await _age(rt, merchant, key, TTL + timedelta(minutes=5))

    broker = StubBroker()
    broker.add_middleware(AsyncIO())
    context = JobContext(settings, "scanner")
    broker.add_middleware(context)
    actors = register_actors(broker, context)
    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    try:
        actors.purge_idempotency.send()
        await asyncio.to_thread(broker.join, actors.purge_idempotency.queue_name, fail_fast=True)
        await asyncio.to_thread(worker.join)
    finally:
        await asyncio.to_thread(worker.stop)
        broker.close()
    assert key not in await _keys(rt, merchant)  # purged by the job

    again = await _post(client, merchant, key, amount="3")  # another body: created, not a conflict
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers


class _Recorder:
    def __init__(self, name: str, sent: list):
        self.name, self.sent = name, sent

    def send(self, *args) -> None:
        self.sent.append(self.name)


async def test_the_scheduler_enqueues_the_purge_every_purge_every_s():
    sent: list[str] = []
    clock = type("Clock", (), {"now": 1000.0, "__call__": lambda self: self.now})()
    actors = Actors(scan=_Recorder("scan", sent), confirm=_Recorder("confirm", sent),
                    purge_idempotency=_Recorder("purge", sent))
    scheduler = Scheduler({}, actors, clock=clock, purge_interval_s=IDEMPOTENCY["purge_every_s"])
    assert await scheduler.tick() == [("idempotency", "all")]  # at start
    clock.now += IDEMPOTENCY["purge_every_s"] - 1
    assert await scheduler.tick() == [] and scheduler.seconds_to_next() == pytest.approx(1)
    clock.now += 1
    assert await scheduler.tick() == [("idempotency", "all")]
    assert sent == ["purge", "purge"]
