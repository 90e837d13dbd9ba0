"""Webhook deliveries: claim what is due, send it signed, record every attempt, retry with backoff.

- Claim: due pending deliveries of enabled endpoints, skipping any whose endpoint still owes an
  earlier event of the same payment (events go out in order per payment and endpoint). Claimed rows
  get `next_attempt_at` pushed past the send's timeout (a lease), and the claim commits before the
  send: a worker killed mid-send leaves the lease to expire and the delivery is sent again
  (at least once, never lost).
- Send: httpx POST with the configured timeout and no redirects; 2xx is success; anything else,
  a timeout or a connection error is a failed attempt (status, latency, error, 1 KiB of body kept).
- Retry: exponential backoff with full jitter (see `next_delay`); the last attempt is held back to
  at least 24 h after the first, so retries always span a day. After `webhooks.max_attempts`
  the delivery is `failed`; an endpoint failing continuously for `webhooks.disable_after_s` is
  disabled.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import exists, select
from sqlalchemy.orm import aliased

from ctrip_core.db.models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from ctrip_core.db.types import utcnow
from ctrip_core.notifiers.signing import signed_headers
from ctrip_core.notifiers.ssrf import UnsafeTarget, check_target
from ctrip_core.runtime import Runtime
from ctrip_core.secret_box import SecretBox

log = logging.getLogger(__name__)

BASE_DELAY_S = 5.0
MAX_DELAY_S = 4 * 3600.0
RETRY_SPAN = timedelta(hours=24)
BODY_KEPT = 1024


def next_delay(attempts: int, rng: random.Random = random) -> float:
    """Full jitter: uniform in [0, min(4 h, 5 s × 2^(attempts−1))]."""
    return rng.uniform(0, min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (attempts - 1)))


def nominal_schedule(max_attempts: int) -> list[float]:
    """The backoff ceilings per retry, for docs and tests."""
    return [min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (n - 1)) for n in range(1, max_attempts)]


def _ordered_due(now: datetime):
    """Due, pending deliveries with no earlier pending event of the same payment for that endpoint."""
    earlier_d, earlier_e, this_e = aliased(Delivery), aliased(Event), aliased(Event)
    blocked = exists().where(
        earlier_d.endpoint_id == Delivery.endpoint_id, earlier_d.state == "pending", earlier_d.id != Delivery.id,
        earlier_e.id == earlier_d.event_id, this_e.id == Delivery.event_id,
        earlier_e.payment_id == this_e.payment_id, earlier_e.seq < this_e.seq)
    return (select(Delivery).join(WebhookEndpoint, WebhookEndpoint.id == Delivery.endpoint_id)
            .where(Delivery.state == "pending", Delivery.next_attempt_at <= now, WebhookEndpoint.status == "enabled",
                   ~blocked).order_by(Delivery.next_attempt_at))


async def claim_due(runtime: Runtime, limit: int) -> list[str]:
    """Lease up to `limit` due deliveries to this worker; returns their ids."""
    lease = timedelta(seconds=runtime.settings.webhooks.timeout_s + 30)
    async with runtime.sessions() as session, session.begin():
        now = utcnow()
        query = _ordered_due(now).limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(of=Delivery, skip_locked=True)
        rows = list(await session.scalars(query))
        for d in rows:
            d.next_attempt_at = now + lease
    return [d.id for d in rows]


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
    started = time.perf_counter()
    try:
        resp = await http.post(url, content=body, headers=headers, timeout=timeout_s, follow_redirects=False)
    except httpx.TimeoutException:
        return Outcome(None, int((time.perf_counter() - started) * 1000), "timeout", None)
    except httpx.HTTPError as exc:
        return Outcome(None, int((time.perf_counter() - started) * 1000), f"{type(exc).__name__}: {exc}"[:300], None)
    latency = int((time.perf_counter() - started) * 1000)
    error = None if 200 <= resp.status_code < 300 else f"HTTP {resp.status_code}"
    return Outcome(resp.status_code, latency, error, resp.text[:BODY_KEPT])


async def _attempt(runtime: Runtime, http: httpx.AsyncClient, delivery: Delivery, event: Event,
                   endpoint: WebhookEndpoint) -> Outcome:
    settings = runtime.settings.webhooks
    try:
        await check_target(endpoint.url, allow_private=settings.allow_private_targets)
    except UnsafeTarget as exc:
        return Outcome(None, 0, f"refused: {exc}", None)
    body = json.dumps(event.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = signed_headers(_secrets(SecretBox.from_settings(runtime.settings), endpoint, utcnow()),
                             event.id, int(time.time()), body)
    return await _post(http, endpoint.url, body, headers, settings.timeout_s)


async def _record(runtime: Runtime, delivery_id: str, outcome: Outcome) -> None:
    settings = runtime.settings.webhooks
    async with runtime.sessions() as session, session.begin():
        delivery = await session.get(Delivery, delivery_id, with_for_update=True)
        endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id, with_for_update=True)
        now = utcnow()
        delivery.attempts += 1
        session.add(DeliveryAttempt(delivery_id=delivery.id, attempt=delivery.attempts, status_code=outcome.status_code,
                                    latency_ms=outcome.latency_ms, error=outcome.error, response_body=outcome.body,
                                    created_at=now))
        delivery.last_attempt_at = now
        if outcome.ok:
            delivery.state, delivery.next_attempt_at = "succeeded", None
            endpoint.failing_since = None
            return
        endpoint.failing_since = endpoint.failing_since or now
        if now - endpoint.failing_since >= timedelta(seconds=settings.disable_after_s):
            endpoint.status, endpoint.disabled_at = "disabled", now
            log.warning("webhook endpoint %s disabled after failing since %s", endpoint.id, endpoint.failing_since)
        if delivery.attempts >= settings.max_attempts:
            delivery.state, delivery.next_attempt_at = "failed", None
            return
        next_at = now + timedelta(seconds=next_delay(delivery.attempts))
        if delivery.attempts == settings.max_attempts - 1:
            next_at = max(next_at, delivery.created_at + RETRY_SPAN)  # the last try comes a day after the first
        delivery.next_attempt_at = next_at


async def send_delivery(runtime: Runtime, http: httpx.AsyncClient, delivery_id: str) -> Outcome:
    async with runtime.sessions() as session:
        delivery = await session.get(Delivery, delivery_id)
        event = await session.scalar(select(Event).where(Event.id == delivery.event_id))
        endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
    outcome = await _attempt(runtime, http, delivery, event, endpoint)
    await _record(runtime, delivery_id, outcome)
    return outcome


async def deliver_due(runtime: Runtime, http: httpx.AsyncClient, *, limit: int = 500) -> int:
    """One round: claim due deliveries and send them concurrently; returns how many were sent."""
    ids = await claim_due(runtime, limit)
    gate = asyncio.Semaphore(runtime.settings.webhooks.concurrency)

    async def one(delivery_id: str) -> None:
        async with gate:
            try:
                await send_delivery(runtime, http, delivery_id)
            except Exception:  # noqa: BLE001 - one bad row must not stop the round; the lease retries it
                log.exception("delivery %s failed unexpectedly", delivery_id)

    await asyncio.gather(*(one(i) for i in ids))
    return len(ids)
