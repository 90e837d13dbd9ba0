"""What the job tests share: real `ctrip` subprocesses (tests/subprocesses.py, re-exported here),
payments made through the service layer, and bounded polling of the database.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
from sqlalchemy import func, select

from ctrip_core.db.models import ChainCursor, Event, Payment, Transfer
from ctrip_core.db.payment_insert import NewPayment
from ctrip_core.services.payments.operations import PaymentRequest, create_payment
from subprocesses import Processes

ETH = 10**18


async def new_payment(rt, merchant_id: str, asset: str, amount: str) -> NewPayment:
    async with rt.sessions() as s, s.begin():
        return await create_payment(rt, merchant_id, PaymentRequest("anvil", asset, amount), within=s)


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
