"""Merchant API throughput and latency under Hypercorn (target: creates/s >= 0.4 x health/s, p99 <= 50 ms).

Run: .venv/bin/python bench/api.py [--workers 2] [--seconds 10] [--rounds 3] [--concurrency 8] [--client raw|httpx]
                                    [--without rate-limit] [--without insert]
Needs PostgreSQL on 127.0.0.1:5432 (user postgres) and Redis on :6379, like `make test`.

Starts `ctrip api --workers N` on a fresh PostgreSQL database (and a local Anvil for its chain), then
a separate load process drives, in turn, `GET /health` and `POST /v1/payments`, each for a fixed
time after a warm-up, over a fixed number of keep-alive connections, and prints requests/s, p50/p99
latency and the ratio creates/s / health/s, then a priced create (`price` in USD, issue 18: target
priced creates/s >= 0.8 x amount creates/s, rates served from the cache). The phases alternate for `--rounds` rounds and the
median ratio is the figure: the machine's speed drifts by tens of percent between minutes here
(other tenants of the host), and a drift between two single phases showed as the ratio moving
from 0.28 to 0.48 between runs of unchanged code. /health is the same server, framework and client with
no database work, so the ratio says what a create costs on top of serving HTTP at all. A third
phase, `GET /v1/payments/{id}`, shows for scale what an authenticated read costs on the same stack.

The default client speaks HTTP/1.1 over raw asyncio streams: httpx needs about 2 ms of CPU per
request, so on a small machine it, not the server, sets the /health rate (`--client httpx` shows
it). The connections are opened one at a time at the start of the warm-up, as a proxy's pool fills,
and the load starts once all are open: Hypercorn's workers share one listening socket, and
connections opened at the same instant all land on the first worker to wake, while ones opened
under load land mostly on the worker already busy (80/20 splits seen for creates), which then
saturates while the other idles. The split is printed per phase.

Wall-clock rates move with whatever else the machine runs, so it also prints the CPU each request
cost the server (API workers, and the PostgreSQL backends of its database) from /proc, which does not.
It also prints, per request, how often the API workers were preempted (involuntary context
switches) or waited (voluntary ones), and how often Redis was woken: on a small machine that hosts
PostgreSQL, Redis and the load client too, each round trip a create waits on wakes a peer that
then takes the CPU from the worker, and that, more than the code run, is what a create costs
beyond a /health (docs/performance.md).

`--without rate-limit` / `--without insert` (ablation, bench/ablation/sitecustomize.py) run the
same server with that round trip of a create replaced by nothing: the ratio they print bounds
what any optimisation of it could gain. They are never product figures.
Prints only; never asserts. Drops its database and stops what it started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
CTRIP = Path(sys.executable).with_name("ctrip")
PG_ADMIN_DSN = os.environ.get("CTRIP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CTRIP_TEST_REDIS", "redis://127.0.0.1:6379/0")
WARMUP_S = 3.0
ABLATION = Path(__file__).resolve().parent / "ablation"
WITHOUT = ("rate-limit", "insert")
CREATE_BODY = {"chain": "anvil", "asset": "ETH", "amount": "0.05", "order_id": "bench"}
#: A priced create (issue 18): the bench chain's coin states `peg: USD`, so the `fixed` provider answers
#: and the rate book serves it from its cache (rates.cache_s) as it would a market rate.
PRICED_BODY = {"chain": "anvil", "asset": "ETH", "price": {"amount": "25.00", "currency": "USD"}, "order_id": "bench"}


# --- the load process ---------------------------------------------------------------------------

class RawClient:
    """One keep-alive HTTP/1.1 connection sending one prepared request again and again."""

    def __init__(self, host: str, port: int, request: bytes):
        self.host, self.port, self.request = host, port, request
        self.reader = self.writer = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def call(self) -> int:
        if self.writer is None:
            await self.open()
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length, close = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True  # Hypercorn closes a connection after keep_alive_max_requests
        await self.reader.readexactly(length)
        if close:
            self.close()
        return int(head[9:12])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _raw_request(host: str, port: int, method: str, path: str, headers: dict, body: dict | None) -> bytes:
    payload = json.dumps(body).encode() if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def _drive(client_kind: str, base_url: str, method: str, path: str, headers: dict, body: dict | None,
                 concurrency: int, seconds: float, mark=lambda: None) -> dict:
    """Closed-loop load; calls mark() when the measured part begins (the end is when this returns)."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    host, port = base_url.split("//")[1].rsplit(":", 1)
    http = None
    if client_kind == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        http = httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=10)

        async def call(_client) -> int:
            return (await http.request(method, path, json=body)).status_code
    else:
        request = _raw_request(host, int(port), method, path, headers, body)

        async def call(client) -> int:
            return await asyncio.wait_for(client.call(), 10)

    opened, all_open = [0], asyncio.Event()

    async def connection(index: int, start: float, stop: float) -> None:
        client = RawClient(host, int(port), request) if client_kind == "raw" else None
        await asyncio.sleep(index * min(0.1, WARMUP_S / 2 / concurrency))  # one at a time, as a pool fills
        if client is not None:  # all open before any load: see the module docstring
            await client.open()
            opened[0] += 1
            if opened[0] == concurrency:
                all_open.set()
            await all_open.wait()
        while (now := time.perf_counter()) < stop:
            try:
                status = await call(client)
                ok, label = status < 300, str(status)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, httpx.HTTPError) as exc:
                ok, label = False, type(exc).__name__
                if client is not None:
                    client.close()
            if now >= start:
                if ok:
                    latencies.append(time.perf_counter() - now)
                else:
                    errors[label] = errors.get(label, 0) + 1
        if client is not None:
            client.close()

    async def mark_start() -> None:
        await asyncio.sleep(WARMUP_S)
        mark()

    start = time.perf_counter() + WARMUP_S
    await asyncio.gather(mark_start(), *(connection(i, start, start + seconds) for i in range(concurrency)))
    if http is not None:
        await http.aclose()
    return {"count": len(latencies), "elapsed": seconds, "latencies": latencies, "errors": errors}


def _load_process(conn, *args) -> None:
    conn.send(asyncio.run(_drive(*args, mark=lambda: conn.send("start"))))
    conn.close()


# --- CPU accounting from /proc (Linux) ----------------------------------------------------------

def _cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def _switches(pid: int) -> tuple[int, int]:
    """Context switches of a process so far: (voluntary: it waited, involuntary: it was preempted)."""
    counts = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name.endswith("ctxt_switches"):
                    counts[name] = int(value)
    except (OSError, ValueError):
        pass
    return counts.get("voluntary_ctxt_switches", 0), counts.get("nonvoluntary_ctxt_switches", 0)


def _processes(match) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, ValueError, IndexError):
                continue
            if match(ppid, command):
                pids.append(int(entry))
    return pids


class CpuMeter:
    """CPU seconds spent by the API's Hypercorn workers and by the PostgreSQL backends of its database,
    and the context switches of the workers and of Redis (see `summarise`)."""

    def __init__(self, server_pid: int, db_name: str):
        self.server_pid, self.db_name = server_pid, db_name

    def sample(self) -> dict[str, dict[int, Any]]:
        workers = _processes(lambda ppid, cmd: ppid == self.server_pid and "spawn_main" in cmd)
        backends = _processes(lambda ppid, cmd: cmd.startswith("postgres:") and f" {self.db_name} " in cmd)
        redis = _processes(lambda ppid, cmd: cmd.startswith("redis-server"))
        return {"workers": {p: _cpu_s(p) for p in workers}, "pg": {p: _cpu_s(p) for p in backends},
                "worker_switches": {p: _switches(p) for p in workers},
                "redis_switches": {p: _switches(p) for p in redis}}

    @staticmethod
    def spent(before: dict, after: dict) -> dict:
        def delta(kind: str) -> dict[int, float]:
            return {p: after[kind][p] - before[kind].get(p, 0.0) for p in after[kind]}

        def switches(kind: str) -> tuple[int, int]:
            return tuple(sum(after[kind][p][i] - before[kind].get(p, (0, 0))[i] for p in after[kind]) for i in (0, 1))
        return {"workers": delta("workers"), "pg": sum(delta("pg").values()),
                "worker_switches": switches("worker_switches"), "redis_switches": switches("redis_switches")}


# --- one phase ----------------------------------------------------------------------------------

def run_phase(meter: CpuMeter, *args) -> dict:
    """Run one phase in a separate load process and measure what the server spent meanwhile."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_load_process, args=(child, *args))
    process.start()
    assert parent.recv() == "start"
    before, sessions = meter.sample(), _pg_sessions(meter.db_name)
    result = parent.recv()
    result["cpu"] = CpuMeter.spent(before, meter.sample())
    time.sleep(1.0)  # PostgreSQL publishes its statistics about once a second
    result["new_connections"] = _pg_sessions(meter.db_name) - sessions
    process.join()
    return result


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def summarise(name: str, result: dict) -> tuple[float, float]:
    values = sorted(result["latencies"])
    rate = result["count"] / result["elapsed"]
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(result["errors"].items())) or "none"
    workers = result["cpu"]["workers"]
    api_cpu, pg_cpu = sum(workers.values()), result["cpu"]["pg"]
    per_request_ms = (api_cpu + pg_cpu) * 1000 / max(1, result["count"])
    split = " / ".join(f"{100 * v / api_cpu:.0f}%" for v in sorted(workers.values(), reverse=True)) if api_cpu else "-"
    print(f"{name:<18} {rate:8,.0f} req/s   p50 {_percentile(values, 0.50) * 1000:6.1f} ms   "
          f"p99 {_percentile(values, 0.99) * 1000:6.1f} ms   errors: {errors}")
    print(f"{'':<18} server CPU {per_request_ms:5.2f} ms/request (API workers "
          f"{api_cpu * 1000 / max(1, result['count']):.2f}, PostgreSQL {pg_cpu * 1000 / max(1, result['count']):.2f}); "
          f"worker split {split}; new PostgreSQL connections {result['new_connections']}")
    waited, preempted = result["cpu"]["worker_switches"]
    redis_woken = result["cpu"]["redis_switches"][0]
    count = max(1, result["count"])
    print(f"{'':<18} per request: API workers preempted {preempted / count:.2f}, waited {waited / count:.2f} "
          f"(context switches); Redis woken {redis_woken / count:.2f}")
    return rate, per_request_ms


# --- the server under test ----------------------------------------------------------------------

def _pg_sessions(db_name: str) -> int:
    """Connections ever opened to the database (PostgreSQL >= 14): pool churn shows here."""
    from ctrip_core.devnet.scratch_database import admin_fetch

    return admin_fetch(PG_ADMIN_DSN, "SELECT sessions FROM pg_stat_database WHERE datname = $1", db_name) or 0


def _chains_file(folder: Path, rpc_url: str) -> Path:
    from ctrip_core.devnet.chains_yaml import write_anvil_chains_file

    return write_anvil_chains_file(folder / "chains.yaml", rpc_url,
                                   native={"symbol": "ETH", "decimals": 18, "peg": "USD"})


def _env(database_url: str, chains_file: Path) -> dict[str, str]:
    """The testing environment: production refuses an Anvil chain and the well-known test wallet, and
    the two environments differ in nothing a create or a /health does."""
    from ctrip_core.devnet.accounts import GATEWAY_XPUB

    return {**os.environ, "CTRIP_ENV": "testing", "CTRIP_DATABASE_URL": database_url,
            "CTRIP_CHAINS_FILE": str(chains_file), "CTRIP_WALLET__XPUB": GATEWAY_XPUB,
            "CTRIP_SECRET_KEY": "bench-secret-key-for-webhook-secrets", "CTRIP_REDIS_URL": REDIS_URL,
            # Rate limiting stays on (a Redis round trip per request, as in production) but never trips.
            "CTRIP_API__RATE_LIMIT_PER_S": "1000000", "CTRIP_API__RATE_LIMIT_BURST": "1000000"}


def _api_key(env: dict[str, str]) -> str:
    out = subprocess.run([str(CTRIP), "merchant", "create", "bench", "--json"], env=env, cwd=REPO,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["api_key"]


def _wait_for_workers(base_url: str, server: subprocess.Popen, log_path: Path, workers: int,
                      timeout_s: float = 60) -> None:
    """Until /health answers and every worker has logged Hypercorn's "Running on" line."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"ctrip api exited with {server.returncode}: {log_path.read_text()[-2000:]}")
        running = set(re.findall(r'"pid": (\d+), "msg": "Running on', log_path.read_text(errors="replace")))
        try:
            if len(running) >= workers and httpx.get(base_url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"ctrip api did not start {workers} workers within {timeout_s}s: "
                       f"{log_path.read_text(errors='replace')[-2000:]}")


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)  # its own session: the workers it spawned
            server.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="Hypercorn worker processes (default 2)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per phase (default 10)")
    parser.add_argument("--concurrency", type=int, default=8, help="keep-alive connections (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating health/create rounds (default 3)")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw", help="load client (default raw)")
    parser.add_argument("--without", action="append", choices=WITHOUT, default=[],
                        help="ablation: the server skips this round trip of a create (repeatable; "
                             "bench/ablation/sitecustomize.py); prices it, not a product figure")
    args = parser.parse_args()

    from sqlalchemy.engine import make_url

    from ctrip_core.devnet.anvil import AnvilNode, free_port
    from ctrip_core.devnet.scratch_database import create_database, drop_database

    base_url = f"http://127.0.0.1:{free_port()}"
    anvil = AnvilNode.start()
    server = database_url = None
    try:
        with tempfile.TemporaryDirectory(prefix="ctrip-bench-") as tmp:
            database_url = create_database(PG_ADMIN_DSN, prefix="ctrip_bench")
            env = _env(database_url, _chains_file(Path(tmp), anvil.rpc_url))
            if args.without:
                env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ABLATION), env.get("PYTHONPATH")]))
                env["CTRIP_BENCH_WITHOUT"] = ",".join(args.without)
            headers = {"Authorization": f"Bearer {_api_key(env)}"}
            with open(Path(tmp) / "api.log", "wb") as log:
                server = subprocess.Popen([str(CTRIP), "api", "--bind", base_url.split("//")[1],
                                           "--workers", str(args.workers)],
                                          env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
            _wait_for_workers(base_url, server, Path(tmp) / "api.log", args.workers)
            meter = CpuMeter(server.pid, make_url(database_url).database)
            print(f"ctrip api: Hypercorn, {args.workers} workers, PostgreSQL; {os.cpu_count()} CPUs; "
                  f"{args.client} client, {args.concurrency} connections; "
                  f"{WARMUP_S:.0f} s warm-up + {args.seconds:.0f} s per phase")
            if args.without:
                print(f"ABLATION: the server skips a create's {' and '.join(args.without)} round trip "
                      f"(bench/ablation/sitecustomize.py); these figures bound what optimising it could gain")
            ratios, cpu_ratios, priced_ratios = [], [], []
            for round_no in range(1, args.rounds + 1):  # alternating, so drift in machine speed hits both
                health = run_phase(meter, args.client, base_url, "GET", "/health", {}, None,
                                   args.concurrency, args.seconds)
                creates = run_phase(meter, args.client, base_url, "POST", "/v1/payments", headers, CREATE_BODY,
                                    args.concurrency, args.seconds)
                priced = run_phase(meter, args.client, base_url, "POST", "/v1/payments", headers, PRICED_BODY,
                                   args.concurrency, args.seconds)
                print(f"round {round_no}")
                health_rate, health_cpu = summarise("GET /health", health)
                create_rate, create_cpu = summarise("POST /v1/payments", creates)
                priced_rate, _ = summarise("POST priced", priced)
                ratios.append(create_rate / health_rate)
                cpu_ratios.append(health_cpu / create_cpu)
                priced_ratios.append(priced_rate / create_rate)
                print(f"{'':<18} ratio creates/s / health/s this round: {ratios[-1]:.2f}; "
                      f"priced creates/s / amount creates/s: {priced_ratios[-1]:.2f}")
            print(f"ratio creates/s / health/s: median {statistics.median(ratios):.2f} of {args.rounds} rounds "
                  f"({', '.join(f'{r:.2f}' for r in ratios)}; target >= 0.40); by server CPU per request: "
                  f"median {statistics.median(cpu_ratios):.2f}")
            print(f"ratio priced creates/s / amount creates/s: median {statistics.median(priced_ratios):.2f} "
                  f"({', '.join(f'{r:.2f}' for r in priced_ratios)}; target >= 0.80; rates from the cache)")
            if "insert" not in args.without:  # else there is no payment to read
                one = httpx.post(base_url + "/v1/payments", headers=headers, json=CREATE_BODY).json()["id"]
                reads = run_phase(meter, args.client, base_url, "GET", f"/v1/payments/{one}", headers, None,
                                  args.concurrency, args.seconds)
                read_rate, _ = summarise("GET /v1/payments/id", reads)
                print(f"for scale, an authenticated read of one payment (rate limit with the cached key's check, "
                      f"an ORM session reading the payment and its transfers): "
                      f"{read_rate / health_rate:.2f} of the last round's health/s")
    finally:
        if server is not None:
            _stop(server)
        if database_url is not None:
            drop_database(PG_ADMIN_DSN, database_url)
        anvil.stop()


if __name__ == "__main__":
    main()
