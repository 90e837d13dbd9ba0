"""What the job tests share: real `ctrip` subprocesses (own session, always killed), their environment,
payments made through the service layer, and bounded polling of the database.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from eth_account import Account
from eth_utils import to_checksum_address
from sqlalchemy import func, select

from conftest import TEST_SECRET_KEY
from ctrip_core.db.models import ChainCursor, Event, Payment, Transfer
from ctrip_core.devnet.accounts import GATEWAY_XPUB
from ctrip_core.devnet.token import _calldata
from ctrip_core.services.payments import PaymentRequest, create_payment

CTRIP = str(Path(sys.executable).parent / "ctrip")
PYTHON = sys.executable
ETH = 10**18


def ctrip_env(database_url: str, chains_file: Path, redis_url: str, **extra: str) -> dict[str, str]:
    """The calling environment without any CTRIP_ variable, plus exactly the configuration given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTRIP_")}
    env.update(CTRIP_ENV="testing", CTRIP_DATABASE_URL=database_url, CTRIP_REDIS_URL=redis_url,
               CTRIP_CHAINS_FILE=str(chains_file), CTRIP_WALLET__XPUB=GATEWAY_XPUB,
               CTRIP_SECRET_KEY=TEST_SECRET_KEY, PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


class Processes:
    """Subprocesses in their own sessions, logging to files; `stop_all` kills every process group."""

    def __init__(self, log_dir: Path, env: dict[str, str]):
        self.log_dir, self.env = log_dir, env
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], **popen) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}-{len(self.procs)}.log", "wb")  # noqa: SIM115 - closed by the child's end
        proc = subprocess.Popen(args, env=self.env, cwd=self.log_dir, stdin=subprocess.DEVNULL,
                                stdout=popen.pop("stdout", log), stderr=log, start_new_session=True, **popen)
        log.close()
        self.procs.append((name, proc))
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL, timeout: float = 5.0) -> int | None:
        """Signal the process group (workers spawn children) and reap the leader; SIGKILL if it lingers."""
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return proc.wait(5)

    def stop_all(self, sig: int = signal.SIGTERM) -> None:
        """`sig` to every group still running, then SIGKILL to whatever of those groups lingers.

        Groups whose leader was already reaped earlier (by `kill`) were killed whole then; they are
        left alone, so a recycled process id is never signalled.
        """
        running = [proc for _, proc in self.procs if proc.poll() is None]
        for proc in running:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 8.0
        for proc in running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:  # whatever lingers: the leader, or the worker children it spawned
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)

    def logs(self, limit: int = 4000) -> str:
        out = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace")
            out.append(f"--- {path.name}\n{text[-limit:]}")
        return "\n".join(out)

    def assert_running(self) -> None:
        dead = [(name, p.returncode) for name, p in self.procs if p.poll() is not None]
        assert not dead, f"subprocesses exited early: {dead}\n{self.logs()}"


async def new_payment(rt, merchant_id: str, asset: str, amount: str) -> Payment:
    async with rt.sessions() as s, s.begin():
        return await create_payment(s, rt, merchant_id, PaymentRequest("anvil", asset, amount))


class Sender:
    """Pays from one key over one HTTP connection, counting nonces itself: one RPC call per transaction.

    `ctrip_core.devnet.token` opens a new HTTP client per call (about 30 ms each, seven calls per
    transaction); these tests send dozens of transactions, so they sign and send directly.
    """

    def __init__(self, rpc_url: str, key: str):
        self.http = httpx.Client(timeout=30)
        self.rpc_url, self.key = rpc_url, key
        self.address = Account.from_key(key).address
        self.chain_id = int(self.rpc("eth_chainId"), 16)
        self.nonce = int(self.rpc("eth_getTransactionCount", self.address, "pending"), 16)
        base = int(self.rpc("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
        self.tip = int(self.rpc("eth_maxPriorityFeePerGas"), 16)
        self.max_fee = 4 * base + self.tip  # the base fee only falls on these mostly empty blocks

    def rpc(self, method: str, *params):
        body = self.http.post(self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                                  "params": list(params)}).json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]

    def send(self, to: str, *, value: int = 0, data: str = "0x", gas: int = 21_000) -> str:
        """Sign and send; returns the hash without waiting (automine mines it at once, one block each)."""
        tx = {"type": 2, "chainId": self.chain_id, "nonce": self.nonce, "gas": gas, "maxFeePerGas": self.max_fee,
              "maxPriorityFeePerGas": self.tip, "value": value, "data": data, "to": to_checksum_address(to)}
        raw = Account.sign_transaction(tx, self.key).raw_transaction
        tx_hash = self.rpc("eth_sendRawTransaction", "0x" + raw.hex().removeprefix("0x"))
        self.nonce += 1
        return tx_hash

    def native(self, to: str, value: int) -> str:
        return self.send(to, value=value)

    def token(self, token: str, to: str, amount: int) -> str:
        data = _calldata("transfer(address,uint256)", ["address", "uint256"], [to, amount])
        return self.send(token, data=data, gas=100_000)

    def wait(self, tx_hashes: list[str], timeout_s: float = 30.0) -> list[dict]:
        """The receipts, all successful, polling until each is mined."""
        deadline, receipts = time.monotonic() + timeout_s, []
        for tx_hash in tx_hashes:
            while (receipt := self.rpc("eth_getTransactionReceipt", tx_hash)) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no receipt for {tx_hash} after {timeout_s}s")
                time.sleep(0.02)
            assert int(receipt["status"], 16) == 1, f"transaction {tx_hash} reverted"
            receipts.append(receipt)
        return receipts

    def close(self) -> None:
        self.http.close()


async def reload(rt, payment_id: str) -> tuple[Payment, list[Transfer], list[str]]:
    async with rt.sessions() as s:
        p = await s.get(Payment, payment_id)
        ts = list(await s.scalars(select(Transfer).where(Transfer.payment_id == payment_id).order_by(Transfer.id)))
        events = list(await s.scalars(select(Event.type).where(Event.payment_id == payment_id).order_by(Event.seq)))
    return p, ts, events


async def cursor_of(rt, chain: str = "anvil") -> int | None:
    async with rt.sessions() as s:
        cursor = await s.get(ChainCursor, chain)
        return cursor.last_block if cursor else None


async def statuses(rt, ids: list[str]) -> dict[str, str]:
    async with rt.sessions() as s:
        rows = await s.execute(select(Payment.id, Payment.status).where(Payment.id.in_(ids)))
        return dict(rows.all())


async def wait_for(predicate, timeout_s: float, what: str, *, every_s: float = 0.1, procs: Processes | None = None):
    """Await `predicate()` until truthy (returned), failing after `timeout_s` with the processes' logs."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await predicate()
        if value:
            return value
        if procs is not None:
            procs.assert_running()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}"
                                 + (f"\n{procs.logs()}" if procs else ""))
        await asyncio.sleep(every_s)


async def all_confirmed(rt, ids: list[str]):
    current = await statuses(rt, ids)
    return all(current.get(i) == "confirmed" for i in ids)


async def total_events(rt) -> dict[str, int]:
    async with rt.sessions() as s:
        rows = await s.execute(select(Event.type, func.count()).group_by(Event.type))
        return dict(rows.all())


class BlockWatcher(threading.Thread):
    """Notes the wall-clock time each new block first answers on the node (polling every 20 ms).

    Block timestamps have a 1 s resolution and a node may stamp a block a little before it serves
    it; this is when a scanner could first have seen the block.
    """

    def __init__(self, rpc_url: str):
        super().__init__(daemon=True)
        self.rpc_url = rpc_url
        self.first_seen: dict[int, float] = {}
        self._stop_event = threading.Event()
        self.ready = threading.Event()  # set once the current head is known: later blocks are timed

    def begin(self) -> "BlockWatcher":
        self.start()
        assert self.ready.wait(10), "the block watcher could not read the head"
        return self

    def run(self) -> None:
        with httpx.Client(timeout=5) as http:
            last = None
            while not self._stop_event.is_set():
                try:
                    head = int(http.post(self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber",
                                                             "params": []}).json()["result"], 16)
                except httpx.HTTPError:
                    head = last
                now = time.time()
                if head is not None and last is not None:
                    for number in range(last + 1, head + 1):
                        self.first_seen.setdefault(number, now)
                last = head if head is not None else last
                if last is not None:
                    self.ready.set()
                self._stop_event.wait(0.02)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)
