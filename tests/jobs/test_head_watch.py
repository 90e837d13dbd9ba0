"""newHeads over a real Anvil websocket: every mined block reaches the callback, the watcher comes
back after the node goes away, a refused subscription is retried, and a scheduler with a `ws_url`
enqueues a chain's scan when its block appears rather than at its next (here one-minute) tick."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx
import pytest
from websockets.asyncio.server import serve

from ctrip_core.devnet.anvil import AnvilNode, free_port
from ctrip_core.jobs.actors import Actors
from ctrip_core.jobs.head_watch import watch_heads
from ctrip_core.jobs.scheduler import Scheduler

pytestmark = pytest.mark.timeout(60)
FAST_RETRY = (0.1, 0.5)


def mine(node: AnvilNode, blocks: int = 1) -> None:
    httpx.post(node.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "anvil_mine", "params": [hex(blocks)]},
               timeout=10).raise_for_status()


async def eventually(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_every_mined_block_reaches_the_callback(node, caplog):
    caplog.set_level(logging.INFO, logger="ctrip_core.jobs.head_watch")
    heads: list[str] = []
    watcher = asyncio.create_task(watch_heads("anvil", node.ws_url, heads.append, backoff_s=FAST_RETRY))
    try:
        await eventually(lambda: "subscribed" in caplog.text)
        await asyncio.to_thread(mine, node, 3)
        await eventually(lambda: len(heads) >= 3)
        assert set(heads) == {"anvil"}
    finally:
        watcher.cancel()


async def test_the_watcher_comes_back_when_the_node_does(caplog):
    caplog.set_level(logging.INFO, logger="ctrip_core.jobs.head_watch")
    port = free_port()
    first = AnvilNode.start(port)
    heads: list[str] = []
    watcher = asyncio.create_task(watch_heads("anvil", first.ws_url, heads.append, backoff_s=FAST_RETRY))
    second = None
    try:
        await eventually(lambda: "subscribed" in caplog.text)
        first.stop()
        await eventually(lambda: "unavailable" in caplog.text)
        second = AnvilNode.start(port)
        caplog.clear()
        await eventually(lambda: "subscribed" in caplog.text)
        await asyncio.to_thread(mine, second, 2)
        await eventually(lambda: len(heads) >= 2)
    finally:
        watcher.cancel()
        first.stop()
        if second is not None:
            second.stop()


async def test_a_refused_subscription_is_logged_and_retried(caplog):
    attempts = []

    async def refuse(ws):
        attempts.append(json.loads(await ws.recv())["method"])
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "no subs"}}))

    port = free_port()
    async with serve(refuse, "127.0.0.1", port):
        watcher = asyncio.create_task(watch_heads("bsc", f"ws://127.0.0.1:{port}", lambda _: None,
                                                  backoff_s=FAST_RETRY))
        try:
            await eventually(lambda: len(attempts) >= 2)
        finally:
            watcher.cancel()
    assert set(attempts) == {"eth_subscribe"}
    assert "SubscriptionRefused" in caplog.text and "no subs" in caplog.text


class Recorder:
    def __init__(self, kind: str, log: list):
        self.kind, self.log = kind, log

    def send(self, chain: str) -> None:
        self.log.append((self.kind, chain))


async def test_a_new_head_enqueues_the_scan_at_once_not_at_the_next_tick(node, caplog):
    caplog.set_level(logging.INFO, logger="ctrip_core.jobs.head_watch")
    sent: list = []
    actors = Actors(scan=Recorder("scan", sent), confirm=Recorder("confirm", sent))
    scheduler = Scheduler({"anvil": 60.0}, actors, ws_urls={"anvil": node.ws_url})
    stop = asyncio.Event()
    running = asyncio.create_task(scheduler.run(stop))
    try:
        await eventually(lambda: sent.count(("scan", "anvil")) == 1)  # the first tick
        await eventually(lambda: "subscribed" in caplog.text)
        await asyncio.to_thread(mine, node)
        await eventually(lambda: sent.count(("scan", "anvil")) == sent.count(("confirm", "anvil")) == 2,
                         timeout_s=5)  # not 60 s later
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)
