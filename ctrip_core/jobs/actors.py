"""The actors: scan, confirm, sweep and reconcile per chain, the webhook job (outbox dispatch +
deliveries) and the purge of expired idempotency keys.

Each takes a chain name (or nothing), does a bounded amount of work through `ctrip_core.services`,
and is safe to run twice or concurrently: the services hold the chain's lock and commit atomically.
Retries are off for these periodic jobs; the scheduler enqueues them again on the next tick. The
purge rides the `confirm` queue (like payment expiry, it is time-based housekeeping), so every
deployment that confirms payments also purges, with no queue to add.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import dramatiq
from redis.asyncio import Redis

from ctrip_core.db.types import utcnow
from ctrip_core.jobs.context import JobContext
from ctrip_core.services.watching.confirming import confirm_step
from ctrip_core.services.webhooks.deliveries import due_backlog
from ctrip_core.services.outbox.dispatch import dispatch_events
from ctrip_core.services.idempotency_keys import purge_expired, ttl
from ctrip_core.services.reconcile.audit import reconcile_chain
from ctrip_core.services.sweeps.sweep_pass import sweep_pass
from ctrip_core.services.watching.scanning import scan_chain

log = logging.getLogger(__name__)

QUEUES = ("scan", "confirm", "webhooks", "sweep", "reconcile")
PERIODIC = dict(max_retries=0, time_limit=120_000)
#: An audit pass reads every issued address (about 50 s per 100,000 on Anvil): its own, longer limit.
RECONCILE_TIME_LIMIT_MS = 3_600_000
#: The scheduler sends scan and confirm together and both take the chain's scan lock; the one that
#: finds it busy (usually for a few milliseconds) tries again shortly instead of waiting a whole tick.
BUSY_RETRIES = 5
BUSY_RETRY_S = 0.05


def pending_key(kind: str, chain: str) -> str:
    """Redis key the scheduler sets when it enqueues (kind, chain); the actor clears it when it starts."""
    return f"ctrip:enqueued:{kind}:{chain}"


@dataclass
class Actors:
    scan: dramatiq.Actor
    confirm: dramatiq.Actor
    webhooks: dramatiq.Actor | None = None
    sweep: dramatiq.Actor | None = None
    purge_idempotency: dramatiq.Actor | None = None
    reconcile: dramatiq.Actor | None = None


def register_actors(broker: dramatiq.Broker, context: JobContext, *, redis: Redis | None = None) -> Actors:
    """Declare the actors on `broker`; they reach the runtime through `context`."""

    async def clear_pending(kind: str, chain: str) -> None:
        if redis is not None:
            try:
                await redis.delete(pending_key(kind, chain))
            except Exception:  # noqa: BLE001 - the key also expires by itself
                pass

    async def scan(chain: str) -> None:
        await clear_pending("scan", chain)
        runtime = await context.runtime()
        for _ in range(BUSY_RETRIES):
            steps = await scan_chain(runtime, chain)
            if not steps[0].busy:
                break
            await asyncio.sleep(BUSY_RETRY_S)
        for step in steps:
            if step.advanced:
                context.metrics.blocks_scanned.labels(chain).inc(step.to_block - step.from_block + 1)
                context.metrics.transfers_recorded.labels(chain).inc(step.transfers)
            if step.reorg_to is not None:
                context.metrics.reorgs.labels(chain).inc()

    async def confirm(chain: str) -> None:
        await clear_pending("confirm", chain)
        runtime = await context.runtime()
        for _ in range(BUSY_RETRIES):
            result = await confirm_step(runtime, chain)
            if not result.busy:
                for node in result.disagreeing:
                    context.metrics.quorum_disagreements.labels(chain, node).inc()
                break
            await asyncio.sleep(BUSY_RETRY_S)

    async def webhooks() -> None:
        """Dispatch the outbox to the notifiers, then start sending due webhook deliveries (the
        process's sender records them as they finish: a slow receiver never holds this job)."""
        await clear_pending("webhooks", "all")
        runtime = await context.runtime()
        await dispatch_events(runtime, await context.notifiers())
        await (await context.sender()).start_due()
        if context.metrics.backlog_due(time.monotonic()):
            context.metrics.webhook_backlog(*await due_backlog(runtime, utcnow()))

    async def sweep(chain: str) -> None:
        """One sweep pass over the chain (only workers serving `sweep` hold the keys)."""
        await clear_pending("sweep", chain)
        report = await sweep_pass(await context.runtime(), await context.sweep_keys(), chain)
        context.metrics.sweep_pass(chain, report)
        context.sweep_conditions.update(chain, report.waiting)
        for error in report.errors:
            log.warning("sweep %s: %s", chain, error)

    async def purge_idempotency_keys() -> None:
        """Delete the idempotency keys past `idempotency.ttl_s`."""
        await clear_pending("idempotency", "all")
        runtime = await context.runtime()
        async with runtime.sessions() as session, session.begin():
            purged = await purge_expired(session, utcnow(), ttl(runtime.settings))
        if purged:
            log.info("purged %d expired idempotency keys", purged)

    async def reconcile(chain: str) -> None:
        """One balance-audit pass over the chain; what it cannot explain is logged and in the metrics."""
        await clear_pending("reconcile", chain)
        report = await reconcile_chain(await context.runtime(), chain)
        context.metrics.reconcile_pass(chain, report)

    return Actors(
        scan=dramatiq.actor(scan, broker=broker, actor_name="scan_chain", queue_name="scan", **PERIODIC),
        confirm=dramatiq.actor(confirm, broker=broker, actor_name="confirm_chain", queue_name="confirm", **PERIODIC),
        webhooks=dramatiq.actor(webhooks, broker=broker, actor_name="deliver_webhooks", queue_name="webhooks",
                                **PERIODIC),
        sweep=dramatiq.actor(sweep, broker=broker, actor_name="sweep_chain", queue_name="sweep", **PERIODIC),
        purge_idempotency=dramatiq.actor(purge_idempotency_keys, broker=broker, actor_name="purge_idempotency_keys",
                                         queue_name="confirm", **PERIODIC),
        reconcile=dramatiq.actor(reconcile, broker=broker, actor_name="reconcile_chain", queue_name="reconcile",
                                 max_retries=0, time_limit=RECONCILE_TIME_LIMIT_MS),
    )
