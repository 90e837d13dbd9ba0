"""What the webhook tests share: a database per test module, runtimes with chosen webhook settings,
a real HTTP receiver that can answer per event, and the dispatch + delivery round the worker runs.

Nothing is mocked: PostgreSQL, the receivers (real sockets on 127.0.0.1) and httpx are real. Retries
are forced by moving `next_attempt_at` to now with SQL between rounds instead of waiting out the
backoff. Each test's endpoints are disabled when it ends, so nothing it leaves pending is sent
during a later test of the same module.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

import httpx
import pytest
import pytest_asyncio
import redis
from sqlalchemy import select, text

from testbed import create_database, drop_database, make_settings, new_merchant
from ctrip_core.db.models import Delivery, DeliveryAttempt, Event, Payment, WebhookEndpoint
from ctrip_core.db.payment_insert import NewPayment
from ctrip_core.plugins import collect_notifiers
from ctrip_core.runtime import Runtime, build_runtime
from ctrip_core.services.webhooks.secret_box import SecretBox
from ctrip_core.services.webhooks import endpoints as webhook_endpoints
from ctrip_core.services.webhooks.transport import webhook_client
from ctrip_core.services.webhooks.delivery_sender import deliver_due
from ctrip_core.services.outbox.dispatch import dispatch_events
from ctrip_core.services.outbox.events import record_payment_event
from ctrip_core.services.payments.operations import PaymentRequest, create_payment
from receiver import Receiver
from subprocesses import CTRIP, Processes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # http.server's default backlog of 5 resets bursts of concurrent sends


# --- a receiver that can answer per event and redirect to a chosen place ------------------------

class Hooks(Receiver):
    """`tests/receiver.py`'s receiver, plus: a fixed port (to start it late: "down, then up"), a
    per-request status policy `answer(event_dict) -> status | None`, and the redirect target."""

    def __init__(self, port: int = 0, *, location: str | None = None):
        super().__init__()
        self.port = port
        self.location = location
        self.answer: Callable[[dict], int | None] = lambda event: None
        self.arrived = 0  # requests whose body was read, answered or not yet (in flight)
        self.in_flight = self.max_in_flight = 0
        self.gate: threading.Event | None = None  # when set up: every request waits for it, then delay_s

    def _handler(self):
        base, hooks = super()._handler(), self

        class Handler(base):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with hooks._lock:
                    hooks.arrived += 1
                    hooks.in_flight += 1
                    hooks.max_in_flight = max(hooks.max_in_flight, hooks.in_flight)
                if hooks.gate is not None:
                    hooks.gate.wait(30)
                if hooks.delay_s:
                    time.sleep(hooks.delay_s)
                with hooks._lock:
                    hooks.in_flight -= 1
                try:
                    status = hooks.answer(json.loads(body))
                except ValueError:
                    status = None
                status = status or hooks._next_status()
                with hooks._lock:
                    hooks.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                try:
                    self.send_response(status)
                    if status in (301, 302, 303, 307, 308):
                        self.send_header("Location", hooks.location or "http://127.0.0.1:9/elsewhere")
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the sender gave up (timeout): nothing to answer
                    pass

        return Handler

    def start(self) -> "Hooks":
        self._server = _Server(("127.0.0.1", self.port), self._handler())
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()  # quick to stop
        return self

    def events(self) -> list[dict]:
        with self._lock:
            return [json.loads(body) for _, body in self.requests]

    def ids(self) -> list[str]:
        return [e["id"] for e in self.events()]


WEBHOOK_DEFAULTS = {"allow_private_targets": True, "timeout_s": 2.0}


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def db_url():
    """A fresh, migrated database for the module (dropped after it): no other test's rows around."""
    url = create_database()
    yield url
    drop_database(url)


@pytest_asyncio.fixture(scope="module")
async def runtimes(db_url, chains_file):
    """`runtimes(**overrides)` → a runtime on the module's database with those settings.

    Overrides replace a whole settings section, so `webhooks` is merged here onto the tests'
    defaults (private targets allowed: the receivers are on 127.0.0.1; a 2 s timeout).
    """
    made: list[Runtime] = []

    def make(**overrides) -> Runtime:
        overrides["webhooks"] = {**WEBHOOK_DEFAULTS, **overrides.get("webhooks", {})}
        rt = build_runtime(make_settings(db_url, chains_file, **overrides), "worker")
        made.append(rt)
        return rt

    yield make
    for rt in made:
        await rt.close()


@pytest_asyncio.fixture(scope="module")
async def rt(runtimes) -> Runtime:
    """The module's default runtime: testing settings (private targets allowed), short timeout."""
    return runtimes()


@pytest.fixture(scope="module")
def api_app(rt):
    from ctrip_core.api import create_app

    return create_app(rt)


@pytest.fixture
def api(api_app):
    """A test client of the API over the module's runtime (and database)."""
    return api_app.test_client()


@pytest_asyncio.fixture
async def http():
    """The delivery client of the worker in development/testing (private targets allowed)."""
    async with webhook_client(allow_private=True) as client:
        yield client


@pytest_asyncio.fixture
async def merchant_id(rt) -> str:
    return (await new_merchant(rt))[0]


@pytest_asyncio.fixture
async def api_merchant(rt) -> dict:
    merchant_id, key = await new_merchant(rt)
    return {"id": merchant_id, "headers": {"Authorization": f"Bearer {key}"}}


@pytest.fixture
def hooks():
    started: list[Hooks] = []

    def start(port: int = 0, **kwargs) -> Hooks:
        r = Hooks(port, **kwargs).start()
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()


@pytest_asyncio.fixture(autouse=True)
async def quiet_endpoints_after(rt):
    """After each test, disable every endpoint of the module's database (nothing leaks forward)."""
    yield
    async with rt.sessions() as s, s.begin():
        await s.execute(text("UPDATE webhook_endpoints SET status = 'disabled' WHERE status = 'enabled'"))


# --- helpers -----------------------------------------------------------------------------------

async def add_endpoint(rt: Runtime, merchant_id: str, url: str, events: list[str] | None = None) -> tuple[str, str]:
    """→ (endpoint id, secret): created by the service, without the API's SSRF check."""
    async with rt.sessions() as s, s.begin():
        endpoint, secret = await webhook_endpoints.create_endpoint(s, SecretBox.from_settings(rt.settings),
                                                                   merchant_id, url, events)
    return endpoint.id, secret


async def new_payment(rt: Runtime, merchant_id: str) -> NewPayment:
    async with rt.sessions() as s, s.begin():
        return await create_payment(rt, merchant_id, PaymentRequest("anvil", "ETH", "1"), within=s)


async def emit(rt: Runtime, payment: NewPayment, *types: str) -> list[str]:
    """Commit one event per type for `payment`, each in its own transaction (in that order)."""
    ids = []
    for event_type in types:
        async with rt.sessions() as s, s.begin():
            p = await s.get(Payment, payment.id)
            ids.append((await record_payment_event(s, p, event_type)).id)
    return ids


@dataclass
class Round:
    dispatched: int
    sent: int


async def one_round(rt: Runtime, http: httpx.AsyncClient) -> Round:
    """What the `deliver_webhooks` actor does once: dispatch the outbox, send what is due."""
    dispatched = await dispatch_events(rt, collect_notifiers(rt.pm, rt.settings))
    return Round(dispatched, await deliver_due(rt, http))


async def rounds(rt: Runtime, http: httpx.AsyncClient, n: int, *, age_endpoint: str | None = None) -> None:
    """`n` rounds; with `age_endpoint`, that endpoint's pending deliveries are made due before each."""
    for _ in range(n):
        if age_endpoint:
            await make_due(rt, age_endpoint)
        await one_round(rt, http)


async def drain(rt: Runtime, http: httpx.AsyncClient, *, max_rounds: int = 30) -> int:
    """Rounds until one dispatches and sends nothing; returns how many sent something."""
    busy = 0
    for _ in range(max_rounds):
        r = await one_round(rt, http)
        if not r.dispatched and not r.sent:
            return busy
        busy += 1
    raise AssertionError(f"still busy after {max_rounds} rounds")


async def make_due(rt: Runtime, endpoint_id: str) -> None:
    """Skip the backoff: the endpoint's pending deliveries become due now (the retry comes at once)."""
    async with rt.sessions() as s, s.begin():
        await s.execute(text("UPDATE deliveries SET next_attempt_at = now() - interval '1 second' "
                             "WHERE endpoint_id = :e AND state = 'pending'"), {"e": endpoint_id})


async def deliveries_of(rt: Runtime, endpoint_id: str) -> list[Delivery]:
    """The endpoint's deliveries in event order (then creation: a redelivery comes after the first)."""
    async with rt.sessions() as s:
        return list(await s.scalars(select(Delivery).join(Event, Event.id == Delivery.event_id)
                                    .where(Delivery.endpoint_id == endpoint_id)
                                    .order_by(Event.seq, Delivery.created_at, Delivery.id)))


async def attempts_of(rt: Runtime, endpoint_id: str) -> list[tuple[str, DeliveryAttempt]]:
    """[(event id, attempt)] of the endpoint, in the order they were recorded."""
    async with rt.sessions() as s:
        rows = await s.execute(select(Delivery.event_id, DeliveryAttempt)
                               .join(DeliveryAttempt, DeliveryAttempt.delivery_id == Delivery.id)
                               .where(Delivery.endpoint_id == endpoint_id).order_by(DeliveryAttempt.id))
        return [(event_id, attempt) for event_id, attempt in rows.all()]


async def endpoint_row(rt: Runtime, endpoint_id: str) -> WebhookEndpoint:
    async with rt.sessions() as s:
        return await s.get(WebhookEndpoint, endpoint_id)


async def event_row(rt: Runtime, event_id: str) -> Event:
    async with rt.sessions() as s:
        return await s.scalar(select(Event).where(Event.id == event_id))


async def execute(rt: Runtime, sql: str, **params) -> None:
    async with rt.sessions() as s, s.begin():
        await s.execute(text(sql), params)


# --- real processes: a dedicated Redis, `ctrip worker`, `ctrip scheduler` ------------------------

class RedisServer:
    """A throwaway `redis-server` on its own port, without persistence: a restart loses everything
    it held (queued messages included), as a Redis restart without AOF does in production."""

    def __init__(self, port: int):
        self.port = port
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.02)
        client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


class Procs(Processes):
    """`ctrip` subcommands (`start("worker", "--queues", "webhooks")`), always killed outright."""

    def start(self, *args: str) -> subprocess.Popen:
        return super().start(args[0], [CTRIP, *args])

    def stop_all(self) -> None:  # no graceful stop to wait for: the tests are over
        super().stop_all(signal.SIGKILL)


async def wait_for(predicate, timeout_s: float, what: str, procs: Procs | None = None):
    """Poll `predicate()` (sync or async) until truthy; fail after `timeout_s` with the processes' logs."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}"
                                 + (f"\n{procs.logs()}" if procs else ""))
        await asyncio.sleep(0.05)
