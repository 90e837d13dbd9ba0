"""The ctrip-notify-smtp plugin against a real SMTP server (aiosmtpd on 127.0.0.1) and a real,
migrated PostgreSQL database: events go through the core's outbox dispatcher as in a worker.

Plugin tests do not see tests/conftest.py: the database, the chains file and the servers are this
module's own. No node is asked anything (payments are created, never paid).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
import time
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

import ctrip_notify_smtp
from ctrip_core.config import ConfigError, load_settings
from ctrip_core.db.models import Delivery, Event, Payment, Payout, WebhookEndpoint
from ctrip_core.db.types import utcnow
from ctrip_core.devnet import scratch_database
from ctrip_core.devnet.accounts import GATEWAY_XPUB
from ctrip_core.devnet.anvil import free_port
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from ctrip_core.ids import new_id
from ctrip_core.plugins import collect_notifiers, get_plugin_manager, installed_plugins
from ctrip_core.runtime import build_runtime
from ctrip_core.services.accounts.merchants import create_merchant
from ctrip_core.services.accounts.users import add_user
from ctrip_core.services.outbox.dispatch import dispatch_events
from ctrip_core.services.outbox.dispatch import envelope as to_envelope
from ctrip_core.services.outbox.events import EVENT_TYPES, record_payment_event
from ctrip_core.services.payments.operations import PaymentRequest, create_payment
from ctrip_core.services.payments.payment_events import event_envelope
from ctrip_core.services.payouts.payout_view import render_payout
from ctrip_core.services.webhooks import endpoints as webhook_endpoints
from ctrip_core.services.webhooks.endpoint_events import endpoint_event
from ctrip_core.services.webhooks.secret_box import SecretBox

PG_ADMIN_DSN = os.environ.get("CTRIP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET_KEY = "plugin-test-secret-key-for-webhook-secrets"
PASSWORD = "Sup3r-Secret-Pa55word!"
#: The event types worth an email (payout.created only while awaiting approval).
NOTABLE = ("payment.confirmed", "payment.underpaid", "payment.late", "payout.created", "webhook_endpoint.disabled")


# --- a local SMTP server -------------------------------------------------------------------------

class Inbox:
    """aiosmtpd handler keeping every message it accepts: (envelope recipients, parsed message)."""

    def __init__(self):
        self.received: list[tuple[list[str], object]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
        self.received.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=default_policy)))
        return "250 OK"

    def of(self, event_id: str) -> list[tuple[list[str], object]]:
        return [(rcpt, msg) for rcpt, msg in self.received if msg["X-Ctrip-Event"].split()[-1] == event_id]


def subject(msg) -> str:
    """The Subject as a mail client shows it (a folded header unfolded, whitespace runs as one space)."""
    return " ".join(str(msg["Subject"]).split())


def accept(user: str, password: str):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user \
            and auth_data.password.decode() == password
        return AuthResult(success=ok, handled=False)

    return authenticator


class SmtpServer:
    def __init__(self, port: int | None = None, **kwargs):
        self.port = port or free_port()
        self.inbox = Inbox()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **kwargs)

    def start(self) -> "SmtpServer":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp_servers():
    started: list[SmtpServer] = []

    def start(port: int | None = None, **kwargs) -> SmtpServer:
        server = SmtpServer(port, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def smtp_config(port: int, **more) -> dict:
    return {"host": "127.0.0.1", "port": port, "tls": "none", "sender": "cTrip <payments@shop.example>",
            "timeout_s": 2, "retry_base_s": 0.05} | more


# --- a database and runtimes ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def db_url():
    url = scratch_database.create_database(PG_ADMIN_DSN, prefix="ctrip_smtp")
    yield url
    scratch_database.drop_database(PG_ADMIN_DSN, url)


@pytest.fixture(scope="module")
def chains_file(tmp_path_factory):
    return write_anvil_chains_file(tmp_path_factory.mktemp("chains") / "chains.yaml", "http://127.0.0.1:9")


def settings_for(db_url, chains_file, smtp: dict | None = None, **overrides):
    values = {"database_url": db_url, "chains_file": str(chains_file), "secret_key": SECRET_KEY,
              "wallet": {"xpub": GATEWAY_XPUB}, "notifiers": {"smtp": smtp} if smtp else {}}
    return load_settings("testing", **(values | overrides))


@pytest_asyncio.fixture
async def runtimes(db_url, chains_file):
    made = []

    def make(smtp: dict | None = None, **overrides):
        rt = build_runtime(settings_for(db_url, chains_file, smtp, **overrides), "worker")
        made.append(rt)
        return rt

    yield make
    for rt in made:
        await rt.close()


def smtp_notifier(rt):
    (notifier,) = [n for n in collect_notifiers(rt.pm, rt.settings) if n.name == "smtp"]
    return notifier


async def merchant_with_users(rt, *emails: str) -> str:
    async with rt.sessions() as s, s.begin():
        merchant_id = (await create_merchant(s, "shop")).merchant_id
        for n, email in enumerate(emails):
            await add_user(s, merchant_id, email, "correct horse battery", "owner" if n == 0 else "viewer")
    return merchant_id


async def payment_event(rt, merchant_id: str, event_type: str, order_id: str | None = "order-1042") -> str:
    async with rt.sessions() as s, s.begin():
        created = await create_payment(rt, merchant_id, PaymentRequest("anvil", "ETH", "12.5", order_id=order_id),
                                       within=s)
        payment = await s.get(Payment, created.id)
        return (await record_payment_event(s, payment, event_type)).id


async def payout_event(rt, merchant_id: str, status: str) -> str:
    """A payout.created event as requests.create_payout writes it (the payout object rendered)."""
    now = utcnow()
    payout = Payout(id=new_id("po"), merchant_id=merchant_id, chain="anvil", asset="ETH", token_address=None,
                    address="0x00bEE00000000000000000000000000000000001", amount_base_units=5 * 10**18,
                    reference="withdrawal-881", payment_id=None, batch_id=None, status=status, failure_reason=None,
                    created_at=now, updated_at=now)
    event_id = new_id("evt")
    async with rt.sessions() as s, s.begin():
        s.add(Event(id=event_id, merchant_id=merchant_id, payment_id=None, type="payout.created", created_at=now,
                    payload=event_envelope(event_id, "payout.created", now, render_payout(payout, 18, None))))
    return event_id


async def new_endpoint(rt, merchant_id: str, url: str = "https://shop.example/hooks") -> str:
    async with rt.sessions() as s, s.begin():
        endpoint, _ = await webhook_endpoints.create_endpoint(s, SecretBox.from_settings(rt.settings), merchant_id,
                                                              url, None)
    return endpoint.id


async def disable(rt, endpoint_id: str) -> str:
    """Disable the endpoint with its event, as deliveries.record_attempts does."""
    async with rt.sessions() as s, s.begin():
        endpoint = await s.get(WebhookEndpoint, endpoint_id)
        endpoint.status, endpoint.failing_since, endpoint.disabled_at = "disabled", utcnow(), utcnow()
        event = endpoint_event(endpoint, "disabled")
        s.add(event)
    return event.id


async def dispatch(rt) -> int:
    return await dispatch_events(rt, collect_notifiers(rt.pm, rt.settings))


# --- the plugin and its settings ------------------------------------------------------------------

def test_the_plugin_is_installed_and_off_unless_a_host_is_set():
    plugins = {p.name: p for p in installed_plugins(load_settings("testing"))}
    assert plugins["smtp"].package == "ctrip-notify-smtp" and plugins["smtp"].target == "ctrip_notify_smtp"
    settings = load_settings("testing")
    assert [n.name for n in collect_notifiers(get_plugin_manager(settings), settings)] == ["webhook"]
    on = load_settings("testing", notifiers={"smtp": smtp_config(2525)})
    assert sorted(n.name for n in collect_notifiers(get_plugin_manager(on), on)) == ["smtp", "webhook"]
    excluded = load_settings("testing", notifiers={"smtp": smtp_config(2525)}, plugins={"enabled": ["anvil"]})
    assert [n.name for n in collect_notifiers(get_plugin_manager(excluded), excluded)] == ["webhook"]


@pytest.mark.parametrize("given, where", [
    ({"tls": "ssl"}, "notifiers.smtp.tls"),
    ({"port": 0}, "notifiers.smtp.port"),
    ({"port": "twenty-five"}, "notifiers.smtp.port"),
    ({"sender": None}, "notifiers.smtp.sender"),
    ({"sender": "payments"}, "notifiers.smtp.sender"),
    ({"sender": "a@b.example\r\nBcc: x@y.example"}, "notifiers.smtp.sender"),
    ({"host": "mail.example\nX: y"}, "notifiers.smtp.host"),
    ({"timeout_s": 0}, "notifiers.smtp.timeout_s"),
    ({"hostname": "mail.example"}, "notifiers.smtp.hostname"),
    ({"password": 123456, "username": "u"}, "notifiers.smtp.password"),
    ({"password": PASSWORD}, "notifiers.smtp.username"),
])
def test_bad_settings_are_one_line_errors_naming_the_key(given, where):
    settings = load_settings("testing", notifiers={"smtp": {k: v for k, v in (smtp_config(2525) | given).items()
                                                            if v is not None}})
    with pytest.raises(ConfigError) as err:
        collect_notifiers(get_plugin_manager(settings), settings)
    assert err.value.where == where and "\n" not in str(err.value)
    assert "123456" not in str(err.value) and PASSWORD not in str(err.value)


def test_settings_come_from_ctrip_variables_and_the_password_stays_secret(monkeypatch):
    monkeypatch.setenv("CTRIP_NOTIFIERS__SMTP__HOST", "mail.shop.example")
    monkeypatch.setenv("CTRIP_NOTIFIERS__SMTP__SENDER", "payments@shop.example")
    monkeypatch.setenv("CTRIP_NOTIFIERS__SMTP__USERNAME", "ctrip")
    monkeypatch.setenv("CTRIP_NOTIFIERS__SMTP__PASSWORD", PASSWORD)
    settings = load_settings("testing")
    config = ctrip_notify_smtp.smtp_settings(settings)
    assert (config.host, config.effective_port, config.tls) == ("mail.shop.example", 587, "starttls")
    assert config.password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(config) and PASSWORD not in str(config)


def test_the_message_id_is_the_event_and_the_recipient():
    one = ctrip_notify_smtp.message_id("evt_abc", "a@shop.example", "shop.example")
    assert one == ctrip_notify_smtp.message_id("evt_abc", "A@shop.example ", "shop.example")
    assert one.startswith("<evt_abc.") and one.endswith("@shop.example>")
    assert one != ctrip_notify_smtp.message_id("evt_abc", "b@shop.example", "shop.example")
    assert one != ctrip_notify_smtp.message_id("evt_abd", "a@shop.example", "shop.example")


# --- what is sent, and to whom -------------------------------------------------------------------

async def test_each_notable_event_reaches_every_user_of_its_merchant_and_no_one_else(runtimes, smtp_servers):
    server = smtp_servers()
    rt = runtimes(smtp_config(server.port))
    shop = await merchant_with_users(rt, "owner@shop.example", "clerk@shop.example")
    other = await merchant_with_users(rt, "owner@other.example")
    endpoint_id = await new_endpoint(rt, shop)
    ids = {
        "payment.confirmed": await payment_event(rt, shop, "payment.confirmed"),
        "payment.underpaid": await payment_event(rt, shop, "payment.underpaid"),
        "payment.late": await payment_event(rt, shop, "payment.late"),
        "payout.created": await payout_event(rt, shop, "awaiting_approval"),
        "webhook_endpoint.disabled": await disable(rt, endpoint_id),
    }
    quiet = [await payment_event(rt, shop, t) for t in EVENT_TYPES if t.startswith("payment.") and t not in NOTABLE]
    quiet += [await payout_event(rt, shop, "pending"), await payment_event(rt, other, "payment.detected")]
    notifier = smtp_notifier(rt)

    assert await dispatch_events(rt, [notifier]) == len(ids) + len(quiet)
    assert await notifier.outbox.flush(10)

    assert len(server.inbox.received) == 2 * len(ids)  # nothing for the other types, nothing to `other`
    for event_type, event_id in ids.items():
        got = server.inbox.of(event_id)
        assert sorted(rcpt for rcpt, _ in got) == [["clerk@shop.example"], ["owner@shop.example"]], event_type
        for (rcpt,), msg in got:
            assert msg["To"] == rcpt and msg["From"] == "cTrip <payments@shop.example>"
            assert msg["Message-ID"] == ctrip_notify_smtp.message_id(event_id, rcpt, "shop.example")
            assert msg["Auto-Submitted"] == "auto-generated" and msg.get_content_type() == "text/plain"
            assert event_id in msg.get_content()
    subjects = {t: subject(server.inbox.of(i)[0][1]) for t, i in ids.items()}
    assert subjects["payment.confirmed"].startswith("Payment pay_")
    assert subjects["payment.confirmed"].endswith(" confirmed: 0 ETH (order order-1042)")  # never paid: 0 received
    assert "underpaid: 0 of 12.5 ETH" in subjects["payment.underpaid"]
    assert "late transfer" in subjects["payment.late"]
    assert subjects["payout.created"].endswith("awaiting approval: 5 ETH")
    assert subjects["webhook_endpoint.disabled"] == f"Webhook endpoint {endpoint_id} disabled after failures"
    assert all(not server.inbox.of(event_id) for event_id in quiet)


async def test_with_the_plugin_off_nothing_is_sent(runtimes, smtp_servers):
    server = smtp_servers()
    rt = runtimes()  # no notifiers.smtp.host
    shop = await merchant_with_users(rt, "off@shop.example")
    await payment_event(rt, shop, "payment.confirmed")
    assert [n.name for n in collect_notifiers(rt.pm, rt.settings)] == ["webhook"]
    assert await dispatch(rt) >= 1
    await asyncio.sleep(0.2)
    assert server.inbox.received == []


async def test_an_event_is_emailed_once_and_not_at_all_when_the_dispatch_rolls_back(runtimes, smtp_servers):
    server = smtp_servers()
    rt = runtimes(smtp_config(server.port))
    shop = await merchant_with_users(rt, "once@shop.example")
    event_id = await payment_event(rt, shop, "payment.confirmed")
    notifier = smtp_notifier(rt)
    async with rt.sessions() as s:
        event = await s.scalar(select(Event).where(Event.id == event_id))

    async with rt.sessions() as s:
        async with s.begin():
            await notifier.notify_many([to_envelope(event)], s)
            await s.rollback()
    assert await notifier.outbox.flush(5) and server.inbox.received == []  # rolled back: nothing queued

    for _ in range(2):  # handed over twice (at least once), committed both times
        async with rt.sessions() as s, s.begin():
            await notifier.notify_many([to_envelope(event)], s)
    await dispatch_events(rt, [notifier])  # and the dispatcher's own hand-over
    assert await notifier.outbox.flush(10)
    assert [rcpt for rcpt, _ in server.inbox.of(event_id)] == [["once@shop.example"]]


async def test_a_line_break_in_order_id_cannot_inject_a_header(runtimes, smtp_servers):
    server = smtp_servers()
    rt = runtimes(smtp_config(server.port))
    shop = await merchant_with_users(rt, "crlf@shop.example")
    hostile = "o-1\r\nBcc: victim@attacker.example\r\nSubject: free money\r\n\r\nforged body"
    event_id = await payment_event(rt, shop, "payment.confirmed", order_id=hostile)
    notifier = smtp_notifier(rt)
    await dispatch_events(rt, [notifier])
    assert await notifier.outbox.flush(10)

    ((rcpt, msg),) = server.inbox.of(event_id)
    assert rcpt == ["crlf@shop.example"]
    assert msg["Bcc"] is None and len(msg.get_all("Subject")) == 1  # the text stays inside the one Subject
    assert subject(msg).startswith("Payment pay_") and "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    order_lines = [line for line in msg.get_content().splitlines() if line.startswith("Order:")]
    assert order_lines == ["Order:     o-1\ufffd\ufffdBcc: victim@attacker.example\ufffd\ufffdSubject: free money"
                           "\ufffd\ufffd\ufffd\ufffdforged body"]


# --- SMTP down, slow or refusing -------------------------------------------------------------------

@pytest.fixture
def stalled_port():
    """A port that accepts connections and never says a word (no SMTP greeting)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield listener.getsockname()[1]
    listener.close()


@pytest.mark.parametrize("how", ["down", "stalled"])
async def test_smtp_down_or_stalled_never_holds_back_the_webhooks(how, runtimes, stalled_port, caplog):
    port = free_port() if how == "down" else stalled_port
    rt = runtimes(smtp_config(port, timeout_s=0.5, attempts=2))
    shop = await merchant_with_users(rt, f"{how}1@shop.example", f"{how}2@shop.example")
    endpoint_id = await new_endpoint(rt, shop)
    event_id = await payment_event(rt, shop, "payment.confirmed")
    notifiers = collect_notifiers(rt.pm, rt.settings)
    (notifier,) = [n for n in notifiers if n.name == "smtp"]
    caplog.set_level(logging.WARNING, logger="ctrip_notify_smtp")

    started = time.monotonic()
    assert await dispatch_events(rt, notifiers) == 1  # the webhook notifier's deliveries are written
    assert time.monotonic() - started < 0.5  # without waiting for SMTP at all
    async with rt.sessions() as s:
        assert (await s.scalar(select(Event).where(Event.id == event_id))).dispatched_at is not None
        (delivery,) = await s.scalars(select(Delivery).where(Delivery.endpoint_id == endpoint_id))
        assert delivery.state == "pending"

    assert await notifier.outbox.flush(10)  # two tries each, bounded by timeout_s, then given up
    failed = [r.getMessage() for r in caplog.records if "not sent after 2 attempt(s)" in r.getMessage()]
    assert len(failed) == 2 and all(event_id in line for line in failed)
    said = ("SMTPServerDisconnected", "TimeoutError") if how == "stalled" else ("ConnectionRefusedError",)
    assert all(line.endswith(said) for line in failed)  # smtplib reports a greeting's timeout as a disconnect


async def test_an_email_survives_smtp_being_down_for_a_moment(runtimes, smtp_servers):
    port = free_port()
    rt = runtimes(smtp_config(port, retry_base_s=0.3, attempts=4))  # retries after 0.3, 1.2 and 4.8 s
    shop = await merchant_with_users(rt, "patient@shop.example")
    event_id = await payment_event(rt, shop, "payment.confirmed")
    notifier = smtp_notifier(rt)
    await dispatch_events(rt, [notifier])
    await asyncio.sleep(0.1)  # the first try is refused
    server = smtp_servers(port)
    assert await notifier.outbox.flush(15)
    assert [rcpt for rcpt, _ in server.inbox.of(event_id)] == [["patient@shop.example"]]


async def test_the_password_is_used_and_never_logged(runtimes, smtp_servers, caplog):
    caplog.set_level(logging.DEBUG)
    server = smtp_servers(authenticator=accept("ctrip", PASSWORD), auth_require_tls=False)
    good = runtimes(smtp_config(server.port, username="ctrip", password=PASSWORD))
    shop = await merchant_with_users(good, "auth@shop.example")
    sent = await payment_event(good, shop, "payment.confirmed")
    notifier = smtp_notifier(good)
    await dispatch_events(good, [notifier])
    assert await notifier.outbox.flush(10) and len(server.inbox.of(sent)) == 1

    wrong = "Wr0ng-" + PASSWORD
    bad = runtimes(smtp_config(server.port, username="ctrip", password=wrong, attempts=2))
    refused = await payment_event(bad, shop, "payment.confirmed")
    notifier = smtp_notifier(bad)
    await dispatch_events(bad, [notifier])
    assert await notifier.outbox.flush(10) and server.inbox.of(refused) == []
    assert any("SMTPAuthenticationError 535" in r.getMessage() for r in caplog.records)
    for secret in (PASSWORD, wrong):
        for shown in (secret, base64.b64encode(secret.encode()).decode(),
                      base64.b64encode(f"\0ctrip\0{secret}".encode()).decode()):
            assert shown not in caplog.text
