"""Webhook delivery throughput and commit-to-receipt latency (target: >= 300 deliveries/s, p99 <= 1 s).

Run: .venv/bin/python bench/webhooks.py [--events 5000] [--rate 300] [--threads 4]
Needs PostgreSQL on 127.0.0.1:5432 (user postgres) and `redis-server` on PATH, like `make test`.

The real thing end to end: `ctrip worker --queues webhooks` and `ctrip scheduler` as subprocesses, a
dedicated non-persistent `redis-server` on a free port (so nothing touches the shared Redis), a fresh
PostgreSQL database, and a local HTTP/1.1 keep-alive receiver in its own process that records when
each event arrives and checks every signature with the `standardwebhooks` package. Events are
committed by this process straight into the outbox (`events` rows exactly as `record_payment_event`
writes them, for payments created beforehand), so its own CPU stays small; latency is the receipt
time minus `events.created_at` (stamped just before the commit, so it is slightly pessimistic).

Scenarios, 5,000 events each by default:
- `burst`: every event committed at once (in 100-event transactions): the drain rate is the
  throughput (deliveries/s); latency there is mostly queueing.
- `paced`: events committed at `--rate` per second (small transactions every 20 ms): latency at a
  steady load.
- `paced, 10% 500`: the same with 10% of all answers being 500 (retries fail 10% too). A failed
  attempt's real backoff is uniform in [0, 5 s]; to measure the retry *path* and not the backoff
  policy, this process moves retries that are due within the next 20 s to now every 100 ms (a base
  delay of ~0 instead of 5 s). Leases (timeout + 30 s ahead) are never touched, so nothing is sent
  twice because of it. Latency counts to the first 200.

Prints only; never asserts. Stops what it started and drops its database.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CTRIP = Path(sys.executable).parent / "ctrip"
PG_ADMIN_DSN = os.environ.get("CTRIP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET_KEY = "bench-secret-key-for-webhook-secrets"
DRAIN_TIMEOUT_S = 180.0


# --- the receiver (its own process) ----------------------------------------------------------------

async def _serve(port: int, secret: str, error_rate: float, conn) -> None:
    from standardwebhooks.webhooks import Webhook

    webhook, rng = Webhook(secret), random.Random(7)
    records: list[tuple[str, float, int]] = []  # (event id, received at (unix s), status answered)
    bad_signatures = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal bad_signatures
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    if ":" in line:
                        key, value = line.split(":", 1)
                        headers[key.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                received = time.time()
                try:
                    webhook.verify(body, headers, json_parse=False)
                except Exception:  # noqa: BLE001 - counted, and answered like a receiver would
                    bad_signatures += 1
                status = 500 if rng.random() < error_rate else 200
                records.append((headers.get("webhook-id", "?"), received, status))
                reason = b"OK" if status == 200 else b"Internal Server Error"
                writer.write(b"HTTP/1.1 %d %s\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
                             % (status, reason))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    conn.send("ready")
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, conn.recv)  # "stop"
    conn.send({"records": records, "bad_signatures": bad_signatures})


def _receiver_process(port: int, secret: str, error_rate: float, conn) -> None:
    asyncio.run(_serve(port, secret, error_rate, conn))


class ReceiverProcess:
    def __init__(self, port: int, secret: str, error_rate: float):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_receiver_process, args=(port, secret, error_rate, child), daemon=True)
        self.process.start()
        assert self.conn.recv() == "ready"

    def stop(self) -> dict:
        self.conn.send("stop")
        result = self.conn.recv()
        self.process.join(10)
        return result

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()


# --- processes and services ------------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _chains_file(folder: Path) -> Path:
    from ctrip_core.devnet.chains_yaml import write_anvil_chains_file

    # the webhook worker never calls the node: no Anvil needed
    return write_anvil_chains_file(folder / "chains.yaml", "http://127.0.0.1:9")


def _env(database_url: str, chains_file: Path, redis_url: str, poll_s: float) -> dict[str, str]:
    from ctrip_core.devnet.accounts import GATEWAY_XPUB

    env = {k: v for k, v in os.environ.items() if not k.startswith("CTRIP_")}
    env.update(CTRIP_ENV="testing", CTRIP_DATABASE_URL=database_url, CTRIP_CHAINS_FILE=str(chains_file),
               CTRIP_REDIS_URL=redis_url, CTRIP_WALLET__XPUB=GATEWAY_XPUB, CTRIP_SECRET_KEY=SECRET_KEY,
               CTRIP_WEBHOOKS__POLL_S=str(poll_s), CTRIP_WEBHOOKS__ALLOW_PRIVATE_TARGETS="true",
               PYTHONUNBUFFERED="1")
    return env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(args, env=env, cwd=log.parent, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _kill(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(8)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass


def _wait_redis(url: str, proc: subprocess.Popen) -> None:
    import redis

    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            client.close()
            return
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)


# --- the database side -------------------------------------------------------------------------------

class Outbox:
    """Payments made beforehand; events committed into the outbox as `record_payment_event` writes them."""

    def __init__(self, runtime, merchant_id: str):
        self.runtime, self.merchant_id = runtime, merchant_id
        self.payments: list[tuple[str, dict]] = []  # (payment id, rendered payment object)

    async def make_payments(self, count: int) -> None:
        from ctrip_core.services.payments.payment_view import render_one
        from ctrip_core.services.payments.operations import PaymentRequest, create_payment

        while len(self.payments) < count:
            async with self.runtime.sessions() as session, session.begin():
                for _ in range(min(500, count - len(self.payments))):
                    payment = await create_payment(self.runtime, self.merchant_id,
                                                   PaymentRequest("anvil", "ETH", "0.1"), within=session)
                    self.payments.append((payment.id, await render_one(session, payment)))

    async def commit(self, payments: list[tuple[str, dict]], event_type: str) -> list[str]:
        from ctrip_core.db.models import Event
        from ctrip_core.db.types import utcnow
        from ctrip_core.ids import new_id
        from ctrip_core.services.payments.payment_events import event_envelope

        ids = []
        async with self.runtime.sessions() as session, session.begin():
            for payment_id, data in payments:
                now, event_id = utcnow(), new_id("evt")
                session.add(Event(id=event_id, merchant_id=self.merchant_id, payment_id=payment_id, type=event_type,
                                  payload=event_envelope(event_id, event_type, now, data),
                                  created_at=now))
                ids.append(event_id)
        return ids

    async def created_at(self, ids: list[str]) -> dict[str, float]:
        from sqlalchemy import select

        from ctrip_core.db.models import Event

        async with self.runtime.sessions() as session:
            rows = await session.execute(select(Event.id, Event.created_at).where(Event.id.in_(ids)))
            return {event_id: created.replace(tzinfo=timezone.utc).timestamp() for event_id, created in rows.all()}

    async def counts(self, ids: list[str]) -> dict[str, int]:
        """Deliveries of these events by state ("undispatched" for events without one yet)."""
        from sqlalchemy import func, select

        from ctrip_core.db.models import Delivery

        async with self.runtime.sessions() as session:
            rows = dict((await session.execute(select(Delivery.state, func.count()).where(Delivery.event_id.in_(ids))
                                               .group_by(Delivery.state))).all())
        rows["undispatched"] = len(ids) - sum(rows.values())
        return rows

    async def hurry_retries(self) -> None:
        from sqlalchemy import text

        async with self.runtime.sessions() as session, session.begin():
            await session.execute(text(
                "UPDATE deliveries SET next_attempt_at = now() WHERE state = 'pending' AND attempts > 0 "
                "AND next_attempt_at > now() AND next_attempt_at < now() + interval '20 seconds'"))


# --- one scenario ----------------------------------------------------------------------------------

def _percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, int(fraction * len(values)))] if values else float("nan")


async def run_scenario(outbox: Outbox, port: int, secret: str, name: str, payments: list, *, rate: float | None,
                       error_rate: float, cpu: "CpuMeter") -> dict:
    receiver = ReceiverProcess(port, secret, error_rate)
    event_type = "payment.confirmed"
    hurry = None
    try:
        if error_rate:
            async def hurry_loop() -> None:
                while True:
                    await outbox.hurry_retries()
                    await asyncio.sleep(0.1)

            hurry = asyncio.create_task(hurry_loop())
        cpu_before = cpu.sample()
        started = time.time()
        ids: list[str] = []
        if rate is None:
            for i in range(0, len(payments), 100):
                ids += await outbox.commit(payments[i:i + 100], event_type)
        else:
            tick = 0.02
            while len(ids) < len(payments):
                due = min(len(payments), int((time.time() - started) * rate) + 1)
                if due > len(ids):
                    ids += await outbox.commit(payments[len(ids):due], event_type)
                await asyncio.sleep(tick)
        committed = time.time()
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while time.monotonic() < deadline:
            counts = await outbox.counts(ids)
            if not counts.get("pending") and not counts["undispatched"]:
                break
            await asyncio.sleep(0.1)
        finished = time.time()
        cpu_spent = cpu.spent(cpu_before, cpu.sample())
    finally:
        if hurry is not None:
            hurry.cancel()
        result = receiver.stop()

    created = await outbox.created_at(ids)
    first_ok: dict[str, float] = {}
    attempts: dict[str, int] = {}
    for event_id, received, status in result["records"]:
        if event_id not in created:
            continue  # a late retry of an earlier scenario's event
        attempts[event_id] = attempts.get(event_id, 0) + 1
        if status == 200 and event_id not in first_ok:
            first_ok[event_id] = received
    latencies = sorted(first_ok[e] - created[e] for e in first_ok)
    retried = sorted(first_ok[e] - created[e] for e in first_ok if attempts[e] > 1)
    last = max(first_ok.values(), default=finished)
    span = last - started
    counts = await outbox.counts(ids)
    return {"name": name, "events": len(ids), "delivered": len(first_ok), "span": span,
            "rate": len(first_ok) / span if span > 0 else float("nan"), "commit_s": committed - started,
            "p50": _percentile(latencies, 0.5), "p99": _percentile(latencies, 0.99),
            "max": latencies[-1] if latencies else float("nan"), "requests": sum(attempts.values()),
            "retried": len(retried), "retried_p99": _percentile(retried, 0.99),
            "bad_signatures": result["bad_signatures"], "pending_left": counts.get("pending", 0) + counts["undispatched"],
            "cpu": cpu_spent}


def report(r: dict) -> None:
    print(f"{r['name']:<16} {r['delivered']:>5}/{r['events']} delivered in {r['span']:6.2f} s "
          f"→ {r['rate']:7.0f} deliveries/s   commit→receipt p50 {r['p50'] * 1000:7.0f} ms  "
          f"p99 {r['p99'] * 1000:7.0f} ms  max {r['max'] * 1000:7.0f} ms")
    cpu = r["cpu"]
    extra = f"; retried events {r['retried']} (their p99 {r['retried_p99'] * 1000:.0f} ms)" if r["retried"] else ""
    print(f"{'':<16} HTTP requests {r['requests']}, bad signatures {r['bad_signatures']}, still pending "
          f"{r['pending_left']}; commits took {r['commit_s']:.2f} s; CPU s: worker {cpu['worker']:.1f}, "
          f"scheduler {cpu['scheduler']:.1f}, PostgreSQL {cpu['pg']:.1f}{extra}")


# --- CPU accounting from /proc (Linux) ---------------------------------------------------------------

def _cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _pg_backends(db_name: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if command.startswith("postgres:") and f" {db_name} " in command:
                pids.append(int(entry))
    return pids


class CpuMeter:
    def __init__(self, worker: subprocess.Popen, scheduler: subprocess.Popen, db_name: str):
        self.worker, self.scheduler, self.db_name = worker.pid, scheduler.pid, db_name

    def sample(self) -> dict:
        return {"worker": _cpu_s(self.worker), "scheduler": _cpu_s(self.scheduler),
                "pg": {p: _cpu_s(p) for p in _pg_backends(self.db_name)}}

    @staticmethod
    def spent(before: dict, after: dict) -> dict:
        pg = sum(v - before["pg"].get(p, 0.0) for p, v in after["pg"].items())
        return {"worker": after["worker"] - before["worker"], "scheduler": after["scheduler"] - before["scheduler"],
                "pg": pg}


# --- main --------------------------------------------------------------------------------------------

async def run(args, database_url: str, db_name: str, tmp: Path) -> None:
    from ctrip_core.config import load_settings
    from ctrip_core.devnet.accounts import GATEWAY_XPUB
    from ctrip_core.runtime import build_runtime
    from ctrip_core.services.webhooks.secret_box import SecretBox
    from ctrip_core.services.webhooks import endpoints as webhook_endpoints
    from ctrip_core.services.accounts.merchants import create_merchant

    redis_port, receiver_port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    chains_file = _chains_file(tmp)
    settings = load_settings("testing", database_url=database_url, chains_file=str(chains_file), redis_url=redis_url,
                             secret_key=SECRET_KEY, wallet={"xpub": GATEWAY_XPUB})
    runtime = build_runtime(settings, "worker")
    redis_server = worker = scheduler = None
    try:
        async with runtime.sessions() as session, session.begin():
            merchant_id = (await create_merchant(session, "bench")).merchant_id
            endpoint, secret = await webhook_endpoints.create_endpoint(
                session, SecretBox.from_settings(settings), merchant_id, f"http://127.0.0.1:{receiver_port}/hooks", None)
        outbox = Outbox(runtime, merchant_id)
        scenarios = [s for key, s in (("burst", ("burst", None, 0.0)), ("paced", (f"paced {args.rate:g}/s", args.rate, 0.0)),
                                      ("errors", ("paced, 10% 500", args.rate, 0.1)))
                     if key in args.scenarios.split(",")]
        total = 1 + args.events * len(scenarios)
        started = time.monotonic()
        await outbox.make_payments(total)
        print(f"setup: {total} payments in {time.monotonic() - started:.1f} s")
        payments = outbox.payments

        redis_server = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        _wait_redis(redis_url, redis_server)
        env = _env(database_url, chains_file, redis_url, args.poll_s)
        worker = _start([str(CTRIP), "worker", "--queues", "webhooks", "--processes", str(args.processes),
                         "--threads", str(args.threads)], env, tmp / "worker.log")
        scheduler = _start([str(CTRIP), "scheduler"], env, tmp / "scheduler.log")
        cpu = CpuMeter(worker, scheduler, db_name)

        warm = await run_scenario(outbox, receiver_port, secret, "warm-up", payments[:1], rate=None, error_rate=0,
                                  cpu=cpu)
        if not warm["delivered"]:
            raise RuntimeError("warm-up event not delivered:\n" + (tmp / "worker.log").read_text()[-3000:])
        print(f"ctrip worker --queues webhooks --processes {args.processes} --threads {args.threads} + ctrip "
              f"scheduler (webhooks.poll_s {args.poll_s}); {os.cpu_count()} CPUs; {args.events} events per scenario")
        offset = 1
        for name, rate, error_rate in scenarios:
            batch = payments[offset:offset + args.events]
            offset += args.events
            report(await run_scenario(outbox, receiver_port, secret, name, batch, rate=rate, error_rate=error_rate,
                                      cpu=cpu))
        for name in ("worker", "scheduler"):
            text = (tmp / f"{name}.log").read_text(errors="replace")
            errors = [line for line in text.splitlines() if '"level": "error"' in line or '"level": "warning"' in line]
            if errors:
                print(f"{name} log: {len(errors)} warnings/errors, first: {errors[0][:300]}")
    finally:
        _kill(worker)
        _kill(scheduler)
        if redis_server is not None:
            redis_server.kill()
            redis_server.wait(5)
        await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="events per scenario (default 5000)")
    parser.add_argument("--rate", type=float, default=300, help="events/s committed in the paced scenarios")
    parser.add_argument("--processes", type=int, default=1, help="ctrip worker --processes (default 1)")
    parser.add_argument("--threads", type=int, default=4, help="ctrip worker --threads (default 4)")
    parser.add_argument("--poll-s", type=float, default=0.25, help="webhooks.poll_s (default 0.25)")
    parser.add_argument("--scenarios", default="burst,paced,errors", help="which to run (default all three)")
    args = parser.parse_args()

    from sqlalchemy.engine import make_url

    from ctrip_core.db import migrate
    from ctrip_core.devnet.scratch_database import create_database, drop_database

    database_url = create_database(PG_ADMIN_DSN, prefix="ctrip_bench", migrated=False)
    try:
        migrate.upgrade(database_url)
        with tempfile.TemporaryDirectory(prefix="ctrip-bench-webhooks-") as tmp:
            asyncio.run(run(args, database_url, make_url(database_url).database, Path(tmp)))
    finally:
        drop_database(PG_ADMIN_DSN, database_url)


if __name__ == "__main__":
    main()
