"""Coalescer: alone an item goes at once; what arrives while a batch is in flight forms the next one;
each submitter gets its own outcome; cancelling one submitter never costs the others theirs."""

from __future__ import annotations

import asyncio

import pytest

from ctrip_core.coalesce import Coalescer


class Recorder:
    """A send_batch that records its batches and can be held in flight."""

    def __init__(self, fail: dict | None = None):
        self.batches: list[list] = []
        self.go = asyncio.Event()
        self.go.set()
        self.fail = fail or {}

    async def __call__(self, items):
        self.batches.append(list(items))
        await self.go.wait()
        if "batch" in self.fail:
            raise self.fail["batch"]
        return [self.fail.get(item, f"sent {item}") for item in items]


async def until(predicate) -> None:
    for _ in range(200):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


async def test_an_item_alone_is_sent_at_once_and_its_result_returned():
    send = Recorder()
    assert await Coalescer(send, max_items=8).submit("a") == "sent a"
    assert send.batches == [["a"]]


async def test_items_submitted_during_a_batch_form_the_next_batch_up_to_the_limit():
    send = Recorder()
    send.go.clear()
    coalescer = Coalescer(send, max_items=3)
    first = asyncio.create_task(coalescer.submit(0))
    await until(lambda: send.batches)
    rest = [asyncio.create_task(coalescer.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0)
    send.go.set()
    await asyncio.gather(first, *rest)
    assert send.batches == [[0], [1, 2, 3], [4, 5]]
    assert repr(coalescer) == "Coalescer(waiting=0, running=False)"


async def test_each_submitter_gets_its_own_error():
    send = Recorder(fail={"bad": ValueError("bad row")})
    coalescer = Coalescer(send, max_items=8)
    results = await asyncio.gather(*(coalescer.submit(i) for i in ("ok1", "bad", "ok2")), return_exceptions=True)
    assert results[0] == "sent ok1" and results[2] == "sent ok2"
    assert isinstance(results[1], ValueError) and str(results[1]) == "bad row"


async def test_a_failed_batch_fails_each_of_its_submitters():
    send = Recorder(fail={"batch": ConnectionError("database down")})
    coalescer = Coalescer(send, max_items=8)
    results = await asyncio.gather(*(coalescer.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    send.fail.clear()
    await coalescer.submit("later")  # the coalescer is not stuck after a failure
    assert send.batches[-1] == ["later"]


async def test_a_cancelled_waiting_submitter_is_left_out_and_the_others_go_on():
    send = Recorder()
    send.go.clear()
    coalescer = Coalescer(send, max_items=8)
    in_flight = asyncio.create_task(coalescer.submit("in flight"))
    await until(lambda: send.batches)
    waiting = [asyncio.create_task(coalescer.submit(x)) for x in ("gone", "stays")]
    await asyncio.sleep(0)
    waiting[0].cancel()
    in_flight.cancel()  # its batch is already being sent: the send is not aborted
    send.go.set()
    with pytest.raises(asyncio.CancelledError):
        await in_flight
    await waiting[1]
    assert send.batches == [["in flight"], ["stays"]]
