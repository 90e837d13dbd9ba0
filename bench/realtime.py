"""Real time at mainnet block sizes: six chains served by a synthetic node, scanned by one process
(prints figures, never asserts).

Run: .venv/bin/python bench/realtime.py [SECONDS] [--in-process]   (default 60; needs PostgreSQL on
127.0.0.1:5432 and Redis on :6379)

A child process serves shape-faithful JSON-RPC (full blocks with their transactions, `eth_getLogs`
with ERC-20 Transfer logs, block hashes chained by parent hash) for six chains at their real block
times and typical sizes, 20% of the transactions token transfers, a block appearing each block time
of wall clock. One in 500 transactions pays a watched deposit address (payments created up front).
BSC starts one hour behind: 4,800 blocks already exist and its cursor starts at block 1, so the
first figure is the catch-up after an outage.

By default one real `ctrip worker --queues scan,confirm --processes 1 --threads 8` scans all six,
fed by a real `ctrip scheduler` (a scan and a confirm per chain at each block time), on PostgreSQL
and a Redis database of its own (CTRIP_BENCH_REDIS, default db 11, flushed first); this process only
watches the cursors. Printed: the catch-up (blocks/s, minutes for the hour, from the worker's first
step), then per chain the cursor's lag behind the head (blocks, p50/p99, sampled every 0.25 s), the
detection latency (transfer recorded − block appearance, p99), and the worker's CPU share of one
core (its process tree; PostgreSQL, Redis, the scheduler and the node not included). `--in-process`
runs `scan_chain` per chain in this process instead (no Dramatiq hop; handy under a profiler).

Targets (issue 17): all six held at their heads with ≤ 50% of one core; detection p99 ≤ block time
+ 0.5 s; catch-up ≥ 40 blocks/s. What bounds each is printed next to it.
Not covered here: call traces (off), sweeps, webhooks.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from eth_utils import keccak, to_checksum_address
from redis import Redis
from sqlalchemy import select

from ctrip_core.config import load_settings
from ctrip_core.db.models import ChainCursor, Transfer
from ctrip_core.devnet.accounts import GATEWAY_XPUB
from ctrip_core.devnet.chains_yaml import write_chains_file
from ctrip_core.devnet.scratch_database import create_database, drop_database
from ctrip_core.runtime import build_runtime
from ctrip_core.services.accounts.merchants import create_merchant
from ctrip_core.services.payments.operations import PaymentRequest, create_payment
from ctrip_core.services.watching.scanning import scan_chain

PG_ADMIN_DSN = os.environ.get("CTRIP_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
TOKEN_SHARE, WATCHED_EVERY = 0.2, 500
OUTAGE_BLOCKS = 4_800  # one hour of BSC at 0.75 s
WATCHED = 200

#: name, adapter, chain id, block time (s), transactions per block
CHAINS = [("ethereum", "ethereum", 1, 12.0, 200), ("bsc", "bsc", 56, 0.75, 150), ("polygon", "polygon", 137, 2.0, 100),
          ("base", "base", 8453, 2.0, 200), ("arbitrum", "arbitrum", 42161, 0.25, 40),
          ("optimism", "optimism", 10, 2.0, 30)]


def _h(*parts) -> bytes:
    return keccak(":".join(map(str, parts)).encode())


def _addr(*parts) -> str:
    return to_checksum_address(_h(*parts)[:20])


class SyntheticChain:
    """Blocks as a function of their number; the head follows wall clock from `t0`."""

    def __init__(self, chain_id: int, block_time: float, txs: int, t0: float, behind: int, watched: list[str]):
        self.chain_id, self.block_time, self.txs, self.t0, self.behind = chain_id, block_time, txs, t0, behind
        self.watched, self.token = watched, _addr("token", chain_id)
        self.paid: dict[str, int] = {}  # tx hash → block, of the transactions served that pay a watched address
        self._made: dict[int, list[dict]] = {}

    def head(self) -> int:
        return self.behind + int((time.time() - self.t0) / self.block_time)

    def appeared(self, n: int) -> float:
        return self.t0 + (n - self.behind) * self.block_time

    def block_hash(self, n: int) -> str:
        return "0x" + (_h("block", self.chain_id, n).hex() if n >= 0 else "00" * 32)

    def _tx(self, n: int, i: int) -> dict:
        k = n * self.txs + i
        pays = k % WATCHED_EVERY == 0 and len(self.watched) > 0
        to = self.watched[(k // WATCHED_EVERY) % len(self.watched)] if pays else _addr("to", k)
        token = (k % int(1 / TOKEN_SHARE)) == 1
        tx_hash = "0x" + _h("tx", self.chain_id, n, i).hex()
        if pays:
            self.paid[tx_hash] = n
        return {"hash": tx_hash, "from": _addr("from", k),
                "to": self.token if token else to, "value": "0x0" if token else hex(10**15 + k), "nonce": hex(k),
                "blockNumber": hex(n), "blockHash": self.block_hash(n), "transactionIndex": hex(i), "gas": "0x5208",
                "gasPrice": hex(10**9), "input": "0x", "type": "0x0", "_token_to": to if token else None}

    def _txs(self, n: int) -> list[dict]:
        """The block's transactions, made once (the node's cost is then only the encoding)."""
        if n not in self._made:
            self._made[n] = [self._tx(n, i) for i in range(self.txs)]
        return self._made[n]

    def block(self, n: int, full: bool) -> dict | None:
        if n < 0 or n > self.head():
            return None
        txs = self._txs(n)
        return {"number": hex(n), "hash": self.block_hash(n), "parentHash": self.block_hash(n - 1),
                "timestamp": hex(int(self.appeared(n))), "baseFeePerGas": hex(10**9),
                "transactions": [{k: v for k, v in t.items() if not k.startswith("_")} for t in txs] if full
                else [t["hash"] for t in txs]}

    def logs(self, lo: int, hi: int) -> list[dict]:
        out = []
        for n in range(lo, min(hi, self.head()) + 1):
            for i, t in enumerate(self._txs(n)):
                if t["_token_to"] is not None:
                    out.append({"address": self.token.lower(), "topics": [
                        TRANSFER_TOPIC, "0x" + "0" * 24 + t["from"][2:].lower(), "0x" + "0" * 24 + t["_token_to"][2:].lower()],
                        "data": "0x" + format(1_000_000 + n, "064x"), "blockNumber": hex(n), "blockHash": self.block_hash(n),
                        "transactionHash": t["hash"], "transactionIndex": hex(i), "logIndex": hex(i), "removed": False})
        return out

    def answer(self, method: str, params: list):
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "eth_blockNumber":
            return hex(self.head())
        if method == "eth_getBlockByNumber":
            tag = params[0]
            n = self.head() if tag in ("latest", "safe", "finalized", "pending") else int(tag, 16)
            return self.block(n, bool(params[1]))
        if method == "eth_getLogs":
            f = params[0]
            return self.logs(int(f["fromBlock"], 16), int(f["toBlock"], 16))
        if method == "eth_getTransactionReceipt":  # asked only for transfers to watched addresses
            n = self.paid.get(params[0])
            return None if n is None else {"transactionHash": params[0], "status": "0x1", "blockNumber": hex(n),
                                           "blockHash": self.block_hash(n), "gasUsed": "0x5208", "logs": []}
        raise KeyError(method)


def _serve(ports, specs: list, t0: float, watched, ready, made) -> None:
    """The child process: one HTTP JSON-RPC server per chain (`ready` once listening); once `watched`
    (a shared list) is filled it is copied, BSC's outage blocks are made and `made` is set."""
    chains = {}
    for name, _adapter, chain_id, bt, txs in specs:
        chains[name] = SyntheticChain(chain_id, bt, txs, t0, OUTAGE_BLOCKS if name == "bsc" else 0, watched)

    def handler_for(chain: SyntheticChain):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def handle(self):
                try:
                    super().handle()
                except (BrokenPipeError, ConnectionResetError):  # a client that timed out: nothing to answer
                    pass

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                calls = body if isinstance(body, list) else [body]
                out = []
                for c in calls:
                    result = chain.answer(c["method"], c.get("params", []))
                    out.append({"jsonrpc": "2.0", "id": c["id"], "result": result})
                data = json.dumps(out if isinstance(body, list) else out[0]).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    for name, chain in chains.items():
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(chain))
        ports[name] = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ready.set()
    while len(watched) < WATCHED:  # the payments are created before the outage's blocks are made
        time.sleep(0.05)
    for chain in chains.values():
        chain.watched = list(watched)
    # BSC's hour of outage made up front (about 9 ms a block here): the catch-up then measures the
    # scanner, not the synthetic node making blocks while it is asked for them
    for n in range(chains["bsc"].head() + 200):
        chains["bsc"]._txs(n)
    made.set()
    while True:
        time.sleep(3600)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) >= 2 else (values[0] if values else float("nan"))


async def _tick(rt, name: str, block_time: float, until: float, lags: list, cursors: dict, chain) -> None:
    """What the scheduler and a worker do for one chain: a scan at each block time."""
    while time.monotonic() < until:
        started = time.monotonic()
        await scan_chain(rt, name)
        async with rt.read_sessions() as s:
            cursor = await s.get(ChainCursor, name)
        cursors[name] = cursor.last_block if cursor else -1
        lags.append(chain.head() - cursors[name])
        await asyncio.sleep(max(0.0, block_time - (time.monotonic() - started)))


def _tree(root: int) -> list[int]:
    """`root` and every process below it (a `ctrip worker` and the Dramatiq processes it forks)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def _cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        except (OSError, IndexError, ValueError):
            continue
    return total


async def _cursor(rt, name: str) -> int:
    async with rt.read_sessions() as s:
        cursor = await s.get(ChainCursor, name)
    return cursor.last_block if cursor else -1


async def _with_a_worker(rt, env: dict, local: dict, seconds: float, logs: Path) -> None:
    """One real `ctrip worker` (queues scan and confirm) fed by `ctrip scheduler`, as deployed."""
    ctrip = Path(sys.executable).with_name("ctrip")
    procs = []
    try:
        for name, args in (("scheduler", ["scheduler"]),
                           ("worker", ["worker", "--queues", "scan,confirm", "--processes", "1", "--threads", "8"])):
            with open(logs / f"{name}.log", "wb") as log:
                procs.append(subprocess.Popen([str(ctrip), *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                              start_new_session=True))
        worker = procs[1]
        print(f"catch-up: BSC {OUTAGE_BLOCKS} blocks behind (one hour at 0.75 s, {CHAINS[1][4]} txs each), "
              "one `ctrip worker` (scan, confirm) fed by `ctrip scheduler`")
        behind, wall, cpu = local["bsc"].head(), time.monotonic(), _cpu_s(_tree(worker.pid))
        start_at = None
        while time.monotonic() - wall < 600:
            await asyncio.sleep(0.2)
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a gateway process exited with {proc.returncode}: see {logs}")
            at = await _cursor(rt, "bsc")
            if start_at is None and at > 1:
                start_at = (time.monotonic(), at)  # the worker's first step: start-up not counted
            if at >= local["bsc"].head() - 1:
                break
        took = time.monotonic() - start_at[0]
        share = 100 * (_cpu_s(_tree(worker.pid)) - cpu) / (time.monotonic() - wall)
        print(f"  {at - start_at[1]:,} blocks in {took:.1f} s: {(at - start_at[1]) / took:,.0f} blocks/s, the hour "
              f"in {took / 60:.2f} min (target >= 40 blocks/s); head moved {local['bsc'].head() - behind} meanwhile; "
              f"the worker's CPU {share:.0f}% of one core")
        lags: dict[str, list] = {name: [] for name, *_ in CHAINS}
        since, wall, cpu = time.time(), time.monotonic(), _cpu_s(_tree(worker.pid))
        while time.monotonic() - wall < seconds:
            await asyncio.sleep(0.25)
            for name, *_ in CHAINS:
                lags[name].append(local[name].head() - await _cursor(rt, name))
        share = 100 * (_cpu_s(_tree(worker.pid)) - cpu) / (time.monotonic() - wall)
        print(f"real time for {seconds:.0f} s, six chains, one worker: its CPU {share:.0f}% of one core "
              "(target <= 50%; PostgreSQL, Redis, the scheduler and the node not included)")
        await _report(rt, local, lags, since)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


async def _report(rt, local: dict, lags: dict, since: float) -> None:
    async with rt.read_sessions() as s:
        rows = (await s.execute(select(Transfer.chain, Transfer.block_number, Transfer.created_at)
                                .where(Transfer.created_at >= datetime_from(since)))).all()
    for name, _a, _c, bt, txs in CHAINS:
        delays = [r.created_at.timestamp() - local[name].appeared(r.block_number) for r in rows if r.chain == name]
        lag = lags[name]
        print(f"  {name:<9} {bt:>5} s x {txs:>3} txs: lag p50 {pct(lag, 50):.0f} / p99 {pct(lag, 99):.0f} blocks; "
              f"detection p99 {pct(delays, 99):.2f} s over {len(delays)} transfers (target <= {bt + 0.5:.2f} s)")
    print("bounds: a scan runs once per block time (the scheduler's tick), so detection waits up to one "
          "block time plus one step; catch-up is bounded by the scanner's CPU (decoding full blocks, matching, "
          "the database's address lookup per range)")


async def main(seconds: float, in_process: bool = False) -> None:
    url = create_database(PG_ADMIN_DSN, prefix="ctrip_bench")
    directory = Path(tempfile.mkdtemp(prefix="ctrip-realtime-"))
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager()
    ports, ready, made, watched = manager.dict(), manager.Event(), manager.Event(), manager.list()
    t0 = time.time()
    node = ctx.Process(target=_serve, args=(ports, CHAINS, t0, watched, ready, made), daemon=True)
    node.start()
    rt = None
    try:
        ready.wait(30)
        write_chains_file(directory / "chains.yaml", {name: {
            "adapter": adapter, "chain_id": chain_id, "rpc_url": f"http://127.0.0.1:{ports[name]}", "confirmations": 1, "rpc_timeout_s": 60,
            "traces": "off", "native": {"symbol": "ETH", "decimals": 18},
            "tokens": [{"symbol": "USDT", "address": _addr("token", chain_id), "decimals": 6}],
            **({"start_block": 1} if name == "bsc" else {})} for name, adapter, chain_id, _bt, _txs in CHAINS})
        settings = load_settings("testing", database_url=url, chains_file=str(directory / "chains.yaml"),
                                 secret_key="bench-secret-key-for-webhook-secrets-0123456789",
                                 wallet={"xpub": GATEWAY_XPUB})
        rt = build_runtime(settings, "scanner")
        async with rt.sessions() as s, s.begin():
            merchant = (await create_merchant(s, "bench")).merchant_id
        for i in range(WATCHED):
            name = CHAINS[i % len(CHAINS)][0]
            watched.append((await create_payment(rt, merchant, PaymentRequest(name, "ETH", "1", expires_in=86_400))).address)
        # the same synthetic chains here, to read heads and appearance times without asking
        local = {name: SyntheticChain(cid, bt, txs, t0, OUTAGE_BLOCKS if name == "bsc" else 0, list(watched))
                 for name, _a, cid, bt, txs in CHAINS}

        made.wait(600)  # BSC's outage blocks, made by the node up front
        if not in_process:
            redis_url = os.environ.get("CTRIP_BENCH_REDIS", "redis://127.0.0.1:6379/11")
            Redis.from_url(redis_url).flushdb()  # this bench's own broker database
            env = {**os.environ, "CTRIP_ENV": "testing", "CTRIP_DATABASE_URL": url,
                   "CTRIP_CHAINS_FILE": str(directory / "chains.yaml"), "CTRIP_REDIS_URL": redis_url,
                   "CTRIP_WALLET__XPUB": GATEWAY_XPUB, "CTRIP_SECRET_KEY": settings.secret_key.get_secret_value()}
            return await _with_a_worker(rt, env, local, seconds, directory)
        print(f"catch-up: BSC {OUTAGE_BLOCKS} blocks behind (one hour at 0.75 s, {CHAINS[1][4]} txs each)")
        behind = local["bsc"].head()
        cpu, wall = time.process_time(), time.monotonic()
        while True:
            await scan_chain(rt, "bsc")
            async with rt.read_sessions() as s:
                at = (await s.get(ChainCursor, "bsc")).last_block
            if at >= local["bsc"].head() - 1:
                break
        took = time.monotonic() - wall
        share = 100 * (time.process_time() - cpu) / took
        bound = ("this process's CPU (decoding full blocks, matching, the database's address lookup per range)"
                 if share >= 75 else "the synthetic node or PostgreSQL, not this process")
        print(f"  {at:,} blocks in {took:.1f} s: {at / took:,.0f} blocks/s, the hour in {took / 60:.2f} min "
              f"(target >= 40 blocks/s); head moved {local['bsc'].head() - behind} meanwhile; this process's CPU "
              f"{share:.0f}% of one core: bound by {bound}")

        for name, *_ in CHAINS:
            if name != "bsc":
                await scan_chain(rt, name)  # starts at the head now, after BSC's catch-up
        lags: dict[str, list] = {name: [] for name, *_ in CHAINS}
        cursors: dict[str, int] = {}
        since = time.time()
        cpu, wall = time.process_time(), time.monotonic()
        until = wall + seconds
        await asyncio.gather(*(_tick(rt, name, bt, until, lags[name], cursors, local[name])
                               for name, _a, _c, bt, _t in CHAINS))
        share = 100 * (time.process_time() - cpu) / (time.monotonic() - wall)
        print(f"real time for {seconds:.0f} s, six chains in one process: CPU {share:.0f}% of one core "
              "(target <= 50%; PostgreSQL and the node not included)")
        await _report(rt, local, lags, since)
    finally:
        if rt is not None:
            await rt.close()
        node.terminate()
        manager.shutdown()
        drop_database(PG_ADMIN_DSN, url)


def datetime_from(epoch: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC)


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--in-process"]
    asyncio.run(main(float(arguments[0]) if arguments else 60, in_process="--in-process" in sys.argv))
