"""Webhook deliveries: claim what is due, send it signed, record every attempt, retry with backoff.

- Claim: due pending deliveries of enabled endpoints, skipping any whose endpoint still owes an
  earlier event of the same payment (events go out in order per payment and endpoint). Claimed rows
  get `next_attempt_at` pushed past the send's timeout (a lease), and the claim commits before the
  send: a worker killed mid-send leaves the lease to expire and the delivery is sent again
  (at least once, never lost).
- Send: httpx POST with the configured timeout and no redirects, through the client of
  `notifiers.transport.webhook_client` (the SSRF guard resolves each new connection's host once and
  dials exactly the address it checked; a refusal is a failed attempt `refused: ...`); 2xx is success; anything else,
  a timeout or a connection error is a failed attempt (status, latency, error, 1 KiB of body kept).
  `webhooks.timeout_s` is one deadline for the whole attempt, and no more than 1 KiB of an answer
  is ever read. Sending them concurrently, and recording in batches, is `delivery_sender`'s job.
- Retry: exponential backoff with jitter in the upper half of each step (see `next_delay`); the
  last attempt is held back to at least 24 h after the first, so retries always span a day. After
  `webhooks.max_attempts` the delivery is `failed`; an endpoint failing continuously for
  `webhooks.disable_after_s` is disabled, and a `webhook_endpoint.disabled` event says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import and_, func, or_, select, text, update

from ctrip_core.db.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from ctrip_core.db.types import utcnow
from ctrip_core.services.webhooks.endpoint_events import endpoint_event
from ctrip_core.services.webhooks.signing import signed_headers
from ctrip_core.services.webhooks.ssrf import UnsafeTarget
from ctrip_core.runtime import Runtime
from ctrip_core.services.webhooks.secret_box import SecretBox

log = logging.getLogger(__name__)

BASE_DELAY_S = 5.0
MAX_DELAY_S = 4 * 3600.0
RETRY_SPAN = timedelta(hours=24)
BODY_KEPT = 1024
#: At most this many requests in flight to one endpoint per worker process (`DeliverySender`):
#: spares merchants' servers, and keeps the shared connection pool small (httpx's pool bookkeeping
#: grows with its open connections, which costs CPU on every request).
ENDPOINT_CONCURRENCY = 10


def next_delay(attempts: int, rng: random.Random = random) -> float:
    """Equal jitter: uniform in [c/2, c] with c = min(4 h, 5 s × 2^(attempts−1)).

    Spread enough that a fleet of failing deliveries does not retry in lockstep, yet never an
    immediate retry (full jitter's [0, c] could resend 50 ms after a failure, when the receiver is
    still down; a test of ordering once caught exactly that)."""
    ceiling = min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (attempts - 1))
    return rng.uniform(ceiling / 2, ceiling)


def nominal_schedule(max_attempts: int) -> list[float]:
    """The backoff ceilings per retry, for docs and tests."""
    return [min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (n - 1)) for n in range(1, max_attempts)]


def _due_window(now: datetime, size: int, after: tuple[datetime, str] | None, skip: list[str]):
    """Due, pending deliveries of enabled endpoints but `skip`, oldest due first, from after `after` (keyset)."""
    query = (select(Delivery.id, Delivery.endpoint_id, Delivery.next_attempt_at, Event.payment_id, Event.seq)
             .join(Event, Event.id == Delivery.event_id)
             .join(WebhookEndpoint, WebhookEndpoint.id == Delivery.endpoint_id)
             .where(Delivery.state == "pending", Delivery.next_attempt_at <= now, WebhookEndpoint.status == "enabled")
             .order_by(Delivery.next_attempt_at, Delivery.id).limit(size))
    if skip:
        query = query.where(Delivery.endpoint_id.not_in(skip))
    if after is not None:
        at, delivery_id = after
        query = query.where(or_(Delivery.next_attempt_at > at,
                                and_(Delivery.next_attempt_at == at, Delivery.id > delivery_id)))
    return query


async def due_backlog(runtime: Runtime, now: datetime) -> tuple[int, float]:
    """(how many, seconds the oldest has waited) of the deliveries due to enabled endpoints and not
    claimed by a sender: a backlog that grows, or ages, means webhooks are not keeping up."""
    async with runtime.read_sessions() as session:
        count, oldest = (await session.execute(
            select(func.count(), func.min(Delivery.next_attempt_at))
            .join(WebhookEndpoint, WebhookEndpoint.id == Delivery.endpoint_id)
            .where(Delivery.state == "pending", Delivery.next_attempt_at <= now,
                   WebhookEndpoint.status == "enabled"))).one()
    return count, (now - oldest).total_seconds() if oldest is not None else 0.0


async def _heads(session, payment_ids: list[str]) -> dict[tuple[str, str], int]:
    """(payment, endpoint) → seq of the payment's earliest event still owed (pending) to that endpoint."""
    if not payment_ids:
        return {}
    rows = await session.execute(select(Event.payment_id, Delivery.endpoint_id, func.min(Event.seq))
                                 .join(Delivery, Delivery.event_id == Event.id)
                                 .where(Event.payment_id.in_(payment_ids), Delivery.state == "pending")
                                 .group_by(Event.payment_id, Delivery.endpoint_id))
    return {(payment_id, endpoint_id): seq for payment_id, endpoint_id, seq in rows.all()}


def lease_s(settings) -> float:
    """How long a claim keeps a delivery from other workers: an attempt's deadline plus a margin."""
    return settings.webhooks.timeout_s + 30


async def claim_due(runtime: Runtime, limit: int, *, room: Mapping[str, int] | None = None,
                    new_room: int | None = None) -> list[str]:
    """Lease up to `limit` due deliveries to this worker; returns their ids, oldest due first.

    `room` caps what is taken per endpoint (`new_room` for endpoints not in it; no cap by default):
    the worker's sender passes what each endpoint can still take. An endpoint with no room is not
    even looked at, so a slow endpoint's backlog never fills a claim meant for the others.

    A delivery is claimable when no earlier event of its payment is still owed to its endpoint.
    That is decided here, a window of due rows at a time, with one grouped query per window
    rather than a correlated anti-join in SQL: the anti-join's plan turned quadratic (every due
    row scanning every pending row of its endpoint) on tables without fresh statistics, the
    normal state of a delivery table right after a burst.
    """
    lease = timedelta(seconds=lease_s(runtime.settings))
    size = max(2 * limit, 100)
    room = dict(room or {})
    claimed: list[str] = []
    async with runtime.sessions() as session, session.begin():
        postgres = session.get_bind().dialect.name == "postgresql"
        if postgres:  # asyncpg prepares statements; PostgreSQL's generic plan for `_heads` scans every row
            await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        now, after = utcnow(), None
        while len(claimed) < limit:
            full = sorted(endpoint_id for endpoint_id, left in room.items() if left <= 0)
            window = (await session.execute(_due_window(now, size, after, full))).all()
            heads = await _heads(session, sorted({row.payment_id for row in window if row.payment_id is not None}))
            eligible, taking = [], dict(room)
            for row in window:
                if row.payment_id is not None and heads.get((row.payment_id, row.endpoint_id)) != row.seq:
                    continue
                left = taking.get(row.endpoint_id, new_room)
                if left is None or left > 0:
                    eligible.append(row.id)
                    taking[row.endpoint_id] = None if left is None else left - 1
            if eligible:
                lock = (select(Delivery.id).where(Delivery.id.in_(eligible), Delivery.state == "pending",
                                                  Delivery.next_attempt_at <= now)
                        .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit - len(claimed)))
                if postgres:  # lock only what is taken; rows another worker is claiming are skipped
                    lock = lock.with_for_update(skip_locked=True)
                taken = list(await session.scalars(lock))
                endpoint_of = {row.id: row.endpoint_id for row in window}
                for delivery_id in taken:
                    left = room.get(endpoint_of[delivery_id], new_room)
                    if left is not None:
                        room[endpoint_of[delivery_id]] = left - 1
                claimed += taken
            if len(window) < size:
                break
            after = (window[-1].next_attempt_at, window[-1].id)
        if claimed:
            await session.execute(update(Delivery).where(Delivery.id.in_(claimed)).values(next_attempt_at=now + lease)
                                  .execution_options(synchronize_session=False))
    return claimed


@dataclass
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None
    body: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _secrets(box: SecretBox, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    secrets = [box.open(endpoint.secret_ciphertext)]
    if endpoint.previous_secret_ciphertext and endpoint.previous_secret_expires_at and \
            endpoint.previous_secret_expires_at > now:
        secrets.append(box.open(endpoint.previous_secret_ciphertext))
    return secrets


async def _post(http: httpx.AsyncClient, url: str, body: bytes, headers: dict, timeout_s: float) -> Outcome:
    """One POST within a total deadline of `timeout_s` (connect, send, headers and body together:
    a receiver dripping bytes never trips a per-read timeout), reading at most BODY_KEPT bytes of
    the answer (raw, not decompressed) before closing the connection."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            async with http.stream("POST", url, content=body, headers=headers, timeout=timeout_s,
                                   follow_redirects=False) as resp:
                kept = bytearray()
                async for chunk in resp.aiter_raw():
                    kept += chunk[:BODY_KEPT - len(kept)]
                    if len(kept) >= BODY_KEPT:
                        break
    except UnsafeTarget as exc:  # raised by the pinned client's connect: resolved once, checked, refused
        return Outcome(None, int((time.perf_counter() - started) * 1000), f"refused: {exc}", None)
    except (httpx.TimeoutException, TimeoutError):
        return Outcome(None, int((time.perf_counter() - started) * 1000), "timeout", None)
    except httpx.HTTPError as exc:
        return Outcome(None, int((time.perf_counter() - started) * 1000), f"{type(exc).__name__}: {exc}"[:300], None)
    latency = int((time.perf_counter() - started) * 1000)
    error = None if 200 <= resp.status_code < 300 else f"HTTP {resp.status_code}"
    return Outcome(resp.status_code, latency, error, bytes(kept).decode("utf-8", "replace"))


async def attempt_delivery(runtime: Runtime, http: httpx.AsyncClient, event: Event, endpoint: WebhookEndpoint,
                           box: SecretBox) -> Outcome:
    """One signed POST of `event` to `endpoint` (not recorded: see `record_attempts`)."""
    body = json.dumps(event.payload, separators=(",", ":"), sort_keys=True).encode()
    try:
        secrets = _secrets(box, endpoint, utcnow())
    except ValueError as exc:  # sealed under a key this process lacks: never sent unsigned, retried later
        return Outcome(None, 0, f"not sent: {exc}", None)
    headers = signed_headers(secrets, event.id, int(time.time()), body)
    return await _post(http, endpoint.url, body, headers, runtime.settings.webhooks.timeout_s)


def _apply(settings, delivery: Delivery, endpoint: WebhookEndpoint, outcome: Outcome, now: datetime) -> DeliveryAttempt:
    """Count the attempt on the delivery and its endpoint; returns the attempt's row."""
    delivery.attempts += 1
    attempt = DeliveryAttempt(delivery_id=delivery.id, attempt=delivery.attempts, status_code=outcome.status_code,
                              latency_ms=outcome.latency_ms, error=outcome.error, response_body=outcome.body,
                              created_at=now)
    delivery.last_attempt_at = now
    if outcome.ok:
        delivery.state, delivery.next_attempt_at = "succeeded", None
        endpoint.failing_since = None
        return attempt
    endpoint.failing_since = endpoint.failing_since or now
    if endpoint.status == "enabled" and now - endpoint.failing_since >= timedelta(seconds=settings.disable_after_s):
        endpoint.status, endpoint.disabled_at = "disabled", now
        log.warning("webhook endpoint %s disabled after failing since %s", endpoint.id, endpoint.failing_since)
    if delivery.attempts >= settings.max_attempts:
        delivery.state, delivery.next_attempt_at = "failed", None
        return attempt
    next_at = now + timedelta(seconds=next_delay(delivery.attempts))
    if delivery.attempts == settings.max_attempts - 1:
        next_at = max(next_at, delivery.created_at + RETRY_SPAN)  # the last try comes a day after the first
    delivery.next_attempt_at = next_at
    return attempt


async def record_attempts(runtime: Runtime, outcomes: list[tuple[str, Outcome]]) -> None:
    """Record attempts in one transaction (rows locked in id order: deliveries, then their endpoints);
    an endpoint they disable gets its `webhook_endpoint.disabled` event in the same transaction."""
    settings = runtime.settings.webhooks
    async with runtime.sessions() as session, session.begin():
        ids = sorted({delivery_id for delivery_id, _ in outcomes})
        deliveries = {d.id: d for d in await session.scalars(
            select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id).with_for_update())}
        endpoint_ids = sorted({d.endpoint_id for d in deliveries.values()})
        endpoints = {e.id: e for e in await session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.id.in_(endpoint_ids)).order_by(WebhookEndpoint.id)
            .with_for_update())}
        now = utcnow()
        enabled = [e for e in endpoints.values() if e.status == "enabled"]
        for delivery_id, outcome in outcomes:
            delivery = deliveries.get(delivery_id)
            if delivery is None:  # deleted with its endpoint while it was being sent
                continue
            session.add(_apply(settings, delivery, endpoints[delivery.endpoint_id], outcome, now))
        for endpoint in enabled:  # disabled by this batch: announced once, with the change
            if endpoint.status == "disabled":
                session.add(endpoint_event(endpoint, "disabled"))


async def load_claimed(runtime: Runtime, ids: list[str]) -> list[tuple[Delivery, Event, WebhookEndpoint]]:
    """The claimed deliveries with their events and endpoints, in one query."""
    async with runtime.sessions() as session:
        rows = await session.execute(select(Delivery, Event, WebhookEndpoint)
                                     .join(Event, Event.id == Delivery.event_id)
                                     .join(WebhookEndpoint, WebhookEndpoint.id == Delivery.endpoint_id)
                                     .where(Delivery.id.in_(ids)))
        return [(d, e, ep) for d, e, ep in rows.all()]
