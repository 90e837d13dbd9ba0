"""Liveness of the long-running job processes: a heartbeat each writes to Redis, `ctrip health` reads.

A worker process beats while every one of its Dramatiq consumer and worker threads is alive; the
scheduler beats from its event loop, so a blocked loop stops the beat. Each beat is the key
`ctrip:heartbeat:{kind}:{host}` holding the unix time, expiring after STALE_S: a process that died,
hung or lost Redis stops being fresh within that. `host` is this machine's name (one container's,
where compose runs each service in its own), so a health check sees the processes of its own host.
Kinds: `worker` (no `sweep` queue), `sweeper` (serves `sweep`), `scheduler`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

log = logging.getLogger(__name__)

KINDS = ("worker", "sweeper", "scheduler")
#: Seconds between beats, and how old the newest beat may be before the process counts as down.
BEAT_S = 5.0
STALE_S = 30.0


def heartbeat_key(kind: str, host: str | None = None) -> str:
    return f"ctrip:heartbeat:{kind}:{host or socket.gethostname()}"


def kind_for(queues: list[str]) -> str:
    return "sweeper" if "sweep" in queues else "worker"


class WorkerHeartbeat(threading.Thread):
    """Beats every BEAT_S while `alive()` holds, until `stop()`; a Redis error skips one beat."""

    def __init__(self, redis_url: str, kind: str, alive: Callable[[], bool]):
        super().__init__(name=f"ctrip-heartbeat-{kind}", daemon=True)
        self.redis = Redis.from_url(redis_url, socket_timeout=3, socket_connect_timeout=3)
        self.key, self.alive = heartbeat_key(kind), alive
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            if self.alive():
                try:
                    self.redis.set(self.key, f"{time.time():.3f}", ex=int(STALE_S))
                except Exception as exc:  # noqa: BLE001 - the check sees the missed beats
                    log.warning("heartbeat not written: %s", type(exc).__name__)
            self._stop_event.wait(BEAT_S)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(BEAT_S + 1)
        self.redis.close()


async def beat_until(redis: AsyncRedis, kind: str, stop: asyncio.Event) -> None:
    """The scheduler's beat: from its event loop, every BEAT_S, until `stop` is set."""
    key = heartbeat_key(kind)
    while not stop.is_set():
        try:
            await redis.set(key, f"{time.time():.3f}", ex=int(STALE_S))
        except Exception as exc:  # noqa: BLE001 - the check sees the missed beats
            log.warning("heartbeat not written: %s", type(exc).__name__)
        try:
            await asyncio.wait_for(stop.wait(), BEAT_S)
        except asyncio.TimeoutError:
            pass


def check(redis_url: str, kind: str, *, now: float | None = None) -> str | None:
    """None when this host's `kind` process beat within STALE_S, else the one-line reason it is not live."""
    redis = Redis.from_url(redis_url, socket_timeout=3, socket_connect_timeout=3)
    try:
        value = redis.get(heartbeat_key(kind))
    finally:
        redis.close()
    if value is None:
        return f"no {kind} heartbeat from {socket.gethostname()} in the last {STALE_S:.0f} s"
    age = (time.time() if now is None else now) - float(value)
    if age > STALE_S:
        return f"the last {kind} heartbeat from {socket.gethostname()} is {age:.0f} s old"
    return None
