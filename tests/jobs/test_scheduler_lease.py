"""Two schedulers over one real Redis: one enqueues while it holds the lease, the other takes over
when the lease expires; the per-(job, chain) "already enqueued" key holds back duplicates until the
actor clears it (CONTRACT §1: one scheduler per deployment, safe if two run).

The actors are recorders with a `.send`; everything else (lease script, keys, expiry) is real Redis,
on its own database index, flushed before each test.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import pytest_asyncio
import redis
from redis.asyncio import Redis

from ctrip_core.jobs.actors import Actors, pending_key
from ctrip_core.jobs.scheduler import LEASE_KEY, Scheduler

REDIS_URL = "redis://127.0.0.1:6379/8"
CHAINS = {"anvil": 1.0, "bsc": 3.0}

pytestmark = pytest.mark.timeout(30)
_SYNC_CLIENTS: list[redis.Redis] = []


class Recorder:
    """Stands in for a Dramatiq actor: records each send; `clears` plays the actor starting at once."""

    def __init__(self, kind: str, log: list, clears: bool = False):
        self.kind, self.log, self.clears = kind, log, clears
        self.sync = redis.Redis.from_url(REDIS_URL) if clears else None
        if self.sync is not None:
            _SYNC_CLIENTS.append(self.sync)
        self.lock = threading.Lock()

    def send(self, chain: str) -> None:
        with self.lock:
            self.log.append((time.monotonic(), self.kind, chain))
        if self.sync is not None:
            self.sync.delete(pending_key(self.kind, chain))


def recorders(clears: bool = False) -> tuple[Actors, list]:
    log: list = []
    return Actors(scan=Recorder("scan", log, clears), confirm=Recorder("confirm", log, clears)), log


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def clients():
    """One Redis connection per scheduler, as two processes would have."""
    made = [Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)]
    await made[0].flushdb()
    try:
        yield made
    finally:
        await made[0].flushdb()
        for client in made:
            await client.aclose()
        while _SYNC_CLIENTS:
            _SYNC_CLIENTS.pop().close()


async def actors_ran(r: Redis) -> None:
    """What every actor does first: clear its "already enqueued" key."""
    await r.delete(*[pending_key(kind, chain) for kind in ("scan", "confirm") for chain in CHAINS])


BOTH = [("scan", "anvil"), ("confirm", "anvil"), ("scan", "bsc"), ("confirm", "bsc")]


async def test_only_the_lease_holder_enqueues(clients):
    clock = Clock()
    (actors_a, sent_a), (actors_b, sent_b) = recorders(), recorders()
    a = Scheduler(CHAINS, actors_a, redis=clients[0], lease_s=5, clock=clock)
    b = Scheduler(CHAINS, actors_b, redis=clients[1], lease_s=5, clock=clock)

    assert await a.tick() == BOTH
    assert await b.tick() == []
    assert await clients[2].get(LEASE_KEY) == a.owner.encode()
    for _ in range(5):  # tick after tick, with the actors running in between: still only `a`
        clock.now += 3.0
        await actors_ran(clients[2])
        assert await b.tick() == []
        assert await a.tick() == BOTH
    assert len(sent_a) == 6 * 4 and sent_b == []
    assert 4.0 < await clients[2].pttl(LEASE_KEY) / 1000 <= 5.0  # renewed by its owner, never by `b`


async def test_already_enqueued_key_holds_back_a_second_send_until_the_actor_clears_it(clients):
    clock = Clock()
    actors, sent = recorders()
    a = Scheduler({"anvil": 1.0}, actors, redis=clients[0], lease_s=5, clock=clock)

    assert await a.tick() == [("scan", "anvil"), ("confirm", "anvil")]
    assert await clients[2].get(pending_key("scan", "anvil")) == a.owner.encode()
    assert 0 < await clients[2].ttl(pending_key("scan", "anvil")) <= 30  # it also expires by itself
    for _ in range(3):  # due again, but the workers have not started the last ones yet
        clock.now += 1.0
        assert await a.tick() == []
    await clients[2].delete(pending_key("scan", "anvil"))  # the scan actor started; confirm has not
    clock.now += 1.0
    assert await a.tick() == [("scan", "anvil")]
    clock.now += 1.0
    assert await a.tick() == []
    assert [(kind, chain) for _, kind, chain in sent] == [("scan", "anvil"), ("confirm", "anvil"), ("scan", "anvil")]

    # Another scheduler taking over later honours the same keys: no duplicate on the handover.
    await clients[2].delete(LEASE_KEY)
    other_actors, other_sent = recorders()
    b = Scheduler({"anvil": 1.0}, other_actors, redis=clients[1], lease_s=5, clock=clock)
    assert await b.tick() == []
    assert await b.holds_lease() and other_sent == []


async def test_the_other_takes_over_when_the_holder_stops_renewing(clients):
    clock = Clock()
    (actors_a, sent_a), (actors_b, sent_b) = recorders(), recorders()
    a = Scheduler(CHAINS, actors_a, redis=clients[0], lease_s=0.3, clock=clock)
    b = Scheduler(CHAINS, actors_b, redis=clients[1], lease_s=0.3, clock=clock)

    assert await a.tick() == BOTH
    await actors_ran(clients[2])
    assert await b.tick() == []
    await asyncio.sleep(0.45)  # `a` stops renewing (hung or killed): its lease expires in Redis
    assert await b.tick() == BOTH
    await actors_ran(clients[2])
    clock.now += 5
    assert await a.tick() == []  # `a` comes back: it lost the lease and does not steal it back
    assert not await a.holds_lease()
    assert await clients[2].get(LEASE_KEY) == b.owner.encode()
    assert len(sent_a) == len(sent_b) == 4


async def test_two_running_schedulers_one_sends_then_handover(clients):
    """`run` loops side by side: only one sends at a time; stopping the holder hands over to the other."""
    lease_s, interval = 0.6, 0.1
    (actors_a, sent_a), (actors_b, sent_b) = recorders(clears=True), recorders(clears=True)
    a = Scheduler({"anvil": interval}, actors_a, redis=clients[0], lease_s=lease_s)
    b = Scheduler({"anvil": interval}, actors_b, redis=clients[1], lease_s=lease_s)
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    runs = [asyncio.create_task(a.run(stop_a)), asyncio.create_task(b.run(stop_b))]
    try:
        await asyncio.sleep(1.5)
        assert bool(sent_a) != bool(sent_b), (len(sent_a), len(sent_b))
        holder_stop, (holder_sent, other_sent) = (stop_a, (sent_a, sent_b)) if sent_a else (stop_b, (sent_b, sent_a))
        assert len(holder_sent) >= 2 * 8  # about one scan and one confirm per interval
        holder_stop.set()
        stopped_at = time.monotonic()
        await asyncio.sleep(lease_s + lease_s / 3 + 0.5)
        holder_count = len(holder_sent)
        assert other_sent, "nobody took over"
        takeover_s = other_sent[0][0] - stopped_at
        assert takeover_s <= lease_s + lease_s / 3 + 0.3, takeover_s
        assert all(t <= other_sent[0][0] for t, _, _ in holder_sent)  # never both at once
        await asyncio.sleep(0.3)
        assert len(holder_sent) == holder_count
    finally:
        stop_a.set()
        stop_b.set()
        await asyncio.wait_for(asyncio.gather(*runs), 5)


async def test_a_stopped_scheduler_hands_over_at_once(clients):
    """A restart (SIGTERM, then a new process with a new owner id) must not wait out the old lease."""
    (actors_a, sent_a), (actors_b, sent_b) = recorders(clears=True), recorders(clears=True)
    a = Scheduler({"anvil": 0.1}, actors_a, redis=clients[0], lease_s=10)
    stop_a = asyncio.Event()
    run_a = asyncio.create_task(a.run(stop_a))
    try:
        await asyncio.sleep(0.3)
        assert sent_a
    finally:
        stop_a.set()
        await asyncio.wait_for(run_a, 5)
    assert await clients[2].get(LEASE_KEY) is None  # released on the way out

    b = Scheduler({"anvil": 0.1}, actors_b, redis=clients[1], lease_s=10)
    assert await b.tick() == [("scan", "anvil"), ("confirm", "anvil")]
