"""`ctrip scheduler`: enqueue scan and confirm for every chain at its `block_time_s` cadence, the
webhook job every `webhooks.poll_s`, the purge of expired idempotency keys every
`idempotency.purge_every_s`, and each chain's balance audit (reconcile) every `reconcile.interval_s`.

Safe when two run: a Redis lease (SET NX PX, renewed by its owner only) lets one scheduler enqueue
at a time, and a per-(job, chain) "already enqueued" key keeps slow workers from drowning in
duplicate messages. Confirm also expires overdue payments, so no separate expiry job is needed.
A chain with a `ws_url` also wakes the scheduler at each new head (jobs/head_watch.py), so its scan
is enqueued when the block appears rather than at the next tick. In `ctrip dev` the same class
runs without Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

from redis.asyncio import Redis

from ctrip_core.jobs.actors import Actors, pending_key
from ctrip_core.jobs.head_watch import watch_heads

log = logging.getLogger(__name__)

LEASE_KEY = "ctrip:scheduler:lease"
# Extend the lease only while we still own it.
_RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
"""
# Give the lease up on the way out, if still ours, so a restarted scheduler need not wait it out.
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Scheduler:
    def __init__(self, intervals: dict[str, float], actors: Actors, *, redis: Redis | None = None,
                 lease_s: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 webhook_interval_s: float | None = None, purge_interval_s: float | None = None,
                 ws_urls: dict[str, str] | None = None, reconcile_interval_s: float | None = None):
        self.intervals = intervals
        self.ws_urls = {chain: url for chain, url in (ws_urls or {}).items() if url and chain in intervals}
        self._wakeup = asyncio.Event()
        # The jobs of no one chain: (kind, actor, interval), each sent once per interval.
        self._global = [(kind, actor, interval) for kind, actor, interval in
                        (("webhooks", actors.webhooks, webhook_interval_s),
                         ("idempotency", actors.purge_idempotency, purge_interval_s)) if actor is not None and interval]
        self._next_global = {kind: 0.0 for kind, _, _ in self._global}
        self.actors = actors
        self.redis = redis
        self.lease_s = lease_s
        self.owner = uuid.uuid4().hex
        self._clock = clock
        self._next_due = {chain: 0.0 for chain in intervals}
        # The balance audit of each chain, at its own (long) interval rather than the chain's block time.
        self.reconcile_interval_s = reconcile_interval_s if actors.reconcile is not None else None
        self._next_reconcile = {chain: 0.0 for chain in intervals} if self.reconcile_interval_s else {}
        self._renew = redis.register_script(_RENEW_LUA) if redis is not None else None
        self._release = redis.register_script(_RELEASE_LUA) if redis is not None else None

    async def holds_lease(self) -> bool:
        if self._renew is None:
            return True
        return bool(await self._renew(keys=[LEASE_KEY], args=[self.owner, int(self.lease_s * 1000)]))

    async def release(self) -> None:
        if self._release is not None:
            await self._release(keys=[LEASE_KEY], args=[self.owner])

    async def _claim(self, kind: str, chain: str, interval: float) -> bool:
        if self.redis is None:
            return True
        ttl = max(30, int(10 * interval))
        return bool(await self.redis.set(pending_key(kind, chain), self.owner, nx=True, ex=ttl))

    async def tick(self) -> list[tuple[str, str]]:
        """Enqueue what is due now; returns the (job, chain) pairs sent."""
        if not await self.holds_lease():
            return []
        now, sent = self._clock(), []
        for chain, interval in self.intervals.items():
            if now < self._next_due[chain]:
                continue
            self._next_due[chain] = now + interval
            per_chain = [("scan", self.actors.scan), ("confirm", self.actors.confirm), ("sweep", self.actors.sweep)]
            for kind, actor in per_chain:
                if actor is None:
                    continue
                if await self._claim(kind, chain, interval):
                    await asyncio.to_thread(actor.send, chain)
                    sent.append((kind, chain))
        for chain, due in self._next_reconcile.items():
            if now >= due:
                self._next_reconcile[chain] = now + self.reconcile_interval_s
                if await self._claim("reconcile", chain, self.reconcile_interval_s):
                    await asyncio.to_thread(self.actors.reconcile.send, chain)
                    sent.append(("reconcile", chain))
        for kind, actor, interval in self._global:
            if now < self._next_global[kind]:
                continue
            self._next_global[kind] = now + interval
            if await self._claim(kind, "all", interval):
                await asyncio.to_thread(actor.send)
                sent.append((kind, "all"))
        return sent

    def wake(self, chain: str) -> None:
        """A new head on `chain`: its jobs are due now (the claims still stop duplicates)."""
        self._next_due[chain] = 0.0
        self._wakeup.set()

    def seconds_to_next(self) -> float:
        due = [*self._next_due.values(), *self._next_global.values(), *self._next_reconcile.values()]
        return max(0.05, min(due, default=1.0) - self._clock())

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wakeup.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until `stop` is set, waking when the next chain is due (or to renew the lease)."""
        log.info("scheduler %s started for %s", self.owner[:8], ", ".join(self.intervals))
        watchers = [asyncio.create_task(watch_heads(chain, url, self.wake)) for chain, url in self.ws_urls.items()]
        stopping = asyncio.create_task(self._wake_on(stop))
        while not stop.is_set():
            self._wakeup.clear()
            try:
                await self.tick()
            except Exception as exc:  # noqa: BLE001 - Redis blips must not kill the scheduler
                log.warning("scheduler tick failed: %s: %s", type(exc).__name__, exc)
            timeout = min(self.seconds_to_next(), self.lease_s / 3)
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        for task in (*watchers, stopping):
            task.cancel()
        await asyncio.gather(*watchers, stopping, return_exceptions=True)
        try:
            await self.release()
        except Exception as exc:  # noqa: BLE001 - it expires by itself anyway
            log.warning("releasing the scheduler lease failed: %s: %s", type(exc).__name__, exc)
