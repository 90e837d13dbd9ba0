"""The webhook sends of one worker process, so that no endpoint holds up another.

A `DeliverySender` keeps one lane per endpoint: at most ENDPOINT_CONCURRENCY requests in flight to it
(and `webhooks.concurrency` in all), and a bounded number claimed and waiting behind them, sized from
how fast the endpoint answers (`_budget`: what it can send well inside a lease). A claim takes only
what the lanes have room for and skips full ones (`claim_due(room=...)`), so a slow endpoint's backlog
never fills a claim, and its sends only ever occupy its own lane.

`start_due` claims and starts the sends, then returns without waiting for them: the job that kicks
it (`deliver_webhooks`, every `webhooks.poll_s`) and the outbox dispatch before it are never held by
a slow receiver. Attempts are recorded in batches as sends finish (one commit for whatever finished
meanwhile); a recorded batch that leaves a lane half empty (or nothing held) claims again (at most
every CLAIM_GAP_S), so a payment's next event (claimable once the previous one is recorded) goes out
without waiting for the next job, and a busy endpoint's lane stays stocked.

One sender per worker process (`JobContext.sender()`), on the worker's event loop; `close()` waits for
the sends under way (each ends by its deadline) and their records. A process killed meanwhile leaves
leases, and the deliveries are sent again (at least once).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from contextlib import asynccontextmanager

import httpx

from ctrip_core.db.models import Delivery, Event, WebhookEndpoint
from ctrip_core.runtime import Runtime
from ctrip_core.services.webhooks.secret_box import SecretBox
from ctrip_core.services.webhooks.deliveries import (ENDPOINT_CONCURRENCY, Outcome, attempt_delivery, claim_due, lease_s,
                                            load_claimed, record_attempts)

log = logging.getLogger(__name__)

#: An endpoint's lane holds (in flight plus waiting) between these many times ENDPOINT_CONCURRENCY.
#: The low end is also a new endpoint's, until its first answers are timed.
LANE_MIN, LANE_MAX = 2, 50
#: Least time between two claims the sender makes by itself (a recorded batch asks for one): under a
#: burst, each claim then takes a batch worth having rather than a row or two.
CLAIM_GAP_S = 0.05
LATENCY_WEIGHT = 0.3  # of the newest answer in an endpoint's moving average


class DeliverySender:
    def __init__(self, runtime: Runtime, http: httpx.AsyncClient, *, refill: bool = True,
                 on_recorded: Callable[[list[Outcome]], None] | None = None):
        """`refill=False`: claim only when `start_due` is called (a one-off round, `deliver_due`).
        `on_recorded` hears the outcomes of each batch of attempts once recorded (worker metrics)."""
        self.runtime, self.http, self.refill, self.on_recorded = runtime, http, refill, on_recorded
        self.box = SecretBox.from_settings(runtime.settings)
        self._held: Counter[str] = Counter()  # endpoint id → claimed and not yet recorded
        self._lanes: dict[str, asyncio.Semaphore] = {}  # endpoint id → its requests in flight
        self._all = asyncio.Semaphore(runtime.settings.webhooks.concurrency)
        self._latency_s: dict[str, float] = {}  # endpoint id → moving average of its attempts' latency
        self._sends: set[asyncio.Task] = set()
        self._claiming = asyncio.Lock()
        self._finished: asyncio.Queue[tuple[str, str, Outcome]] = asyncio.Queue()
        self._helpers: list[asyncio.Task] = []
        self._wanted = asyncio.Event()
        self._closed = False

    @property
    def held(self) -> int:
        """Deliveries claimed by this sender and not yet recorded."""
        return sum(self._held.values())

    def _budget(self, endpoint_id: str) -> int:
        """How many of the endpoint's deliveries the lane may hold: as many as it sends in about half
        the time a lease leaves after one attempt's deadline, so the last waiting one still starts
        early enough to end inside its lease."""
        latency = self._latency_s.get(endpoint_id)
        if latency is None:
            return LANE_MIN * ENDPOINT_CONCURRENCY
        settings = self.runtime.settings
        rounds = int((lease_s(settings) - settings.webhooks.timeout_s) / (2 * max(latency, 1e-3)))
        return ENDPOINT_CONCURRENCY * min(LANE_MAX, max(LANE_MIN, rounds))

    async def start_due(self, limit: int = 500) -> int:
        """Claim what is due and the lanes have room for, and start sending it; returns how many."""
        async with self._claiming:
            if self._closed:
                return 0
            room = {endpoint_id: self._budget(endpoint_id) - self._held[endpoint_id]
                    for endpoint_id in {*self._latency_s, *+self._held}}
            ids = await claim_due(self.runtime, limit, room=room, new_room=LANE_MIN * ENDPOINT_CONCURRENCY)
            if not ids:
                return 0
            claimed_at = time.monotonic()
            rows = await load_claimed(self.runtime, ids)
            if not self._helpers:
                self._helpers = [asyncio.create_task(self._recorder())]
                if self.refill:
                    self._helpers.append(asyncio.create_task(self._refiller()))
            for delivery, event, endpoint in rows:
                self._held[endpoint.id] += 1
                task = asyncio.create_task(self._send(delivery, event, endpoint, claimed_at))
                self._sends.add(task)
                task.add_done_callback(self._sends.discard)
            return len(rows)

    @asynccontextmanager
    async def _slot(self, endpoint_id: str):
        lane = self._lanes.setdefault(endpoint_id, asyncio.Semaphore(ENDPOINT_CONCURRENCY))
        async with lane, self._all:
            yield

    async def _send(self, delivery: Delivery, event: Event, endpoint: WebhookEndpoint, claimed_at: float) -> None:
        settings = self.runtime.settings
        async with self._slot(endpoint.id):
            if time.monotonic() - claimed_at + settings.webhooks.timeout_s > lease_s(settings):
                self._release([endpoint.id])  # waited so long it could outlive its lease: the next claim sends it
                return
            try:
                outcome = await attempt_delivery(self.runtime, self.http, event, endpoint, self.box)
            except Exception:  # noqa: BLE001 - one bad row must not stop the others; the lease retries it
                log.exception("delivery %s failed unexpectedly", delivery.id)
                self._release([endpoint.id])
                return
        previous = self._latency_s.get(endpoint.id, outcome.latency_ms / 1000)
        self._latency_s[endpoint.id] = previous + LATENCY_WEIGHT * (outcome.latency_ms / 1000 - previous)
        self._finished.put_nowait((delivery.id, endpoint.id, outcome))

    def _release(self, endpoint_ids: list[str]) -> None:
        self._held.subtract(endpoint_ids)
        for endpoint_id in set(endpoint_ids):
            if self._held[endpoint_id] <= 0:
                del self._held[endpoint_id]
                self._lanes.pop(endpoint_id, None)
        self._wanted.set()

    async def _recorder(self) -> None:
        while True:
            batch = [await self._finished.get()]
            while not self._finished.empty():
                batch.append(self._finished.get_nowait())
            try:
                await record_attempts(self.runtime, [(delivery_id, outcome) for delivery_id, _, outcome in batch])
            except Exception:  # noqa: BLE001 - unrecorded sends are sent again when their leases expire
                log.exception("recording %d webhook attempts failed", len(batch))
            else:
                if self.on_recorded is not None:
                    self.on_recorded([outcome for _, _, outcome in batch])
            self._release([endpoint_id for _, endpoint_id, _ in batch])
            for _ in batch:
                self._finished.task_done()

    async def _refiller(self) -> None:
        """Claim again when room frees up or a payment's next event becomes claimable (recorded)."""
        while not self._closed:
            await self._wanted.wait()
            self._wanted.clear()
            if not self._worth_claiming():
                continue
            try:
                await self.start_due()
            except Exception:  # noqa: BLE001 - the next job claims again
                log.exception("claiming webhook deliveries failed")
            await asyncio.sleep(CLAIM_GAP_S)

    def _worth_claiming(self) -> bool:
        """A claim costs a few queries over the due rows: make one when a lane is at most half full
        (or none holds anything: a payment's next event may be due), not after every recorded batch
        of a busy endpoint whose lane is still well stocked."""
        return not self._held or any(n <= self._budget(endpoint_id) // 2 for endpoint_id, n in self._held.items())

    async def wait(self) -> None:
        """Until every send started so far has ended and been recorded."""
        while self._sends:
            await asyncio.gather(*self._sends, return_exceptions=True)
        await self._finished.join()

    async def close(self) -> None:
        """Stop claiming; wait for the sends under way (each ends by its deadline) and their records."""
        async with self._claiming:  # a claim under way starts its sends first: nothing leased is left unsent
            self._closed = True
            if len(self._helpers) > 1:
                self._helpers.pop().cancel()
        await self.wait()
        for task in self._helpers:
            task.cancel()
        await asyncio.gather(*self._helpers, return_exceptions=True)
        self._helpers = []


async def deliver_due(runtime: Runtime, http: httpx.AsyncClient, *, limit: int = 500) -> int:
    """One round that waits: claim what is due, send it, record it; returns how many were sent.
    The worker does not wait like this: its jobs kick the process's `DeliverySender`."""
    sender = DeliverySender(runtime, http, refill=False)
    try:
        return await sender.start_due(limit)
    finally:
        await sender.close()
