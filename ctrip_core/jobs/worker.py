"""`ctrip worker` and `ctrip scheduler` process wiring: broker, context, actors, signals.

Only a worker serving the `sweep` queue may hold the mnemonic; any other worker is a scanner
and refuses it (CONTRACT §2).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import threading

import dramatiq
from redis.asyncio import Redis

from ctrip_core.config import Settings
from ctrip_core.jobs.actors import QUEUES, register_actors
from ctrip_core.jobs.broker import get_broker
from ctrip_core.jobs.context import JobContext
from ctrip_core.jobs.heartbeat import WorkerHeartbeat, beat_until, kind_for
from ctrip_core.jobs.scheduler import Scheduler
from ctrip_core.runtime import Role
from ctrip_core.parent_death import die_with_parent

log = logging.getLogger(__name__)

#: How long an idle consumer sleeps at most between polls of its Redis queue (Dramatiq's default is
#: 1000 ms). A scan enqueued by the scheduler starts within this, so detection stays within a block
#: time plus a fraction of a second; an idle poll is one cheap Lua call.
POLL_MS = 100


def role_for(queues: list[str]) -> Role:
    return "sweeper" if "sweep" in queues else "scanner"


def check_queues(queues: list[str]) -> list[str]:
    from ctrip_core.config import ConfigError

    unknown = [q for q in queues if q not in QUEUES]
    if unknown or not queues:
        raise ConfigError("--queues", f"unknown queue(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(QUEUES)}")
    return queues


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def run_worker_process(settings: Settings, queues: list[str], threads: int, metrics_port: int | None) -> None:
    """One worker process: Redis broker, actors, `threads` worker threads, until SIGINT/SIGTERM."""
    die_with_parent()  # spawned by `ctrip worker --processes N`: never outlive it
    broker = get_broker(settings)
    context = JobContext(settings, role_for(queues))
    broker.add_middleware(context)
    register_actors(broker, context, redis=Redis.from_url(settings.redis_url))
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, registry=context.metrics.registry)
    worker = dramatiq.Worker(broker, queues=set(queues), worker_threads=threads, worker_timeout=POLL_MS)
    worker.start()
    heartbeat = WorkerHeartbeat(settings.redis_url, kind_for(queues), lambda: _threads_alive(worker))
    heartbeat.start()
    log.info("worker serving %s with %d threads", ",".join(queues), threads)
    try:
        _wait_for_signal()
    finally:
        heartbeat.stop()
        worker.stop()
        broker.close()


def _threads_alive(worker: dramatiq.Worker) -> bool:
    """Every consumer and worker thread of the Dramatiq worker is running (what `ctrip health` reports)."""
    threads = [*worker.consumers.values(), *worker.workers]
    return bool(threads) and all(thread.is_alive() for thread in threads)


def run_workers(settings: Settings, queues: list[str], processes: int, threads: int,
                metrics_port: int | None) -> None:
    """`processes` worker processes (spawned), or this one when processes == 1."""
    if processes == 1:
        run_worker_process(settings, queues, threads, metrics_port)
        return
    ctx = multiprocessing.get_context("spawn")
    children = [ctx.Process(target=run_worker_process,
                            args=(settings, queues, threads, metrics_port + i if metrics_port else None))
                for i in range(processes)]
    for child in children:
        child.start()
    try:
        _wait_for_signal()
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.join(10)


async def run_scheduler(settings: Settings, chains: dict[str, float], ws_urls: dict[str, str] | None = None) -> None:
    broker = get_broker(settings)
    context = JobContext(settings, "scanner")
    actors = register_actors(broker, context)
    redis = Redis.from_url(settings.redis_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    heartbeat = asyncio.create_task(beat_until(redis, "scheduler", stop))
    try:
        await Scheduler(chains, actors, redis=redis, webhook_interval_s=settings.webhooks.poll_s,
                        purge_interval_s=settings.idempotency.purge_every_s, ws_urls=ws_urls,
                        reconcile_interval_s=settings.reconcile.interval_s).run(stop)
    finally:
        stop.set()
        await heartbeat
        await redis.aclose()
        broker.close()
