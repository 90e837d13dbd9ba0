"""Hostile receivers (issue 14): a huge streamed answer is read no further than 1 KiB, a slow drip
is cut by the attempt's total deadline, both attempts are recorded, and a healthy endpoint in the
same round is delivered meanwhile. Real sockets: in-process asyncio servers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio

from ctrip_core.services.webhooks.deliveries import BODY_KEPT
from webhooks_support import (add_endpoint, attempts_of, db_url, emit, hooks, http, merchant_id,  # noqa: F401
                              new_payment, one_round, quiet_endpoints_after, rt, runtimes)

CHUNK = b"x" * 65536


class Hostile:
    """Answers 200 with `Content-Length: 1 GiB`, then streams `chunk`s every `every` s (0: as fast as
    read); with `answer=False` it reads the request and never says a word."""

    def __init__(self, every: float, chunk: bytes = CHUNK, answer: bool = True):
        self.every, self.chunk, self.answer, self.sent, self.server = every, chunk, answer, 0, None
        self.closed = asyncio.Event()

    async def handle(self, reader, writer):
        try:
            await reader.readuntil(b"\r\n\r\n")
            if not self.answer:
                await reader.read()  # until the client gives up and closes
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1073741824\r\n\r\n")
            while self.sent < 1073741824:
                writer.write(self.chunk)
                await writer.drain()
                self.sent += len(self.chunk)
                if self.every:
                    await asyncio.sleep(self.every)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.closed.set()
            writer.close()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hooks"


@pytest_asyncio.fixture
async def hostile():
    started = []

    async def start(every: float, **kwargs) -> tuple[Hostile, str]:
        server = Hostile(every, **kwargs)
        started.append(server)
        return server, await server.start()

    yield start
    for server in started:
        server.server.close()


async def _round_with_a_healthy_neighbour(runtimes, http, hooks, url):
    quick = runtimes(webhooks={"allow_private_targets": True, "timeout_s": 1.0})
    from testbed import new_merchant

    merchant_id, _ = await new_merchant(quick)
    healthy = hooks()
    bad_id, _ = await add_endpoint(quick, merchant_id, url)
    await add_endpoint(quick, merchant_id, healthy.url)
    [event_id] = await emit(quick, await new_payment(quick, merchant_id), "payment.confirmed")
    await asyncio.wait_for(one_round(quick, http), 15)  # today's code read for hours here
    assert healthy.ids() == [event_id]
    [(_, attempt)] = await attempts_of(quick, bad_id)
    return attempt


async def test_a_huge_answer_is_read_no_further_than_1_kib(runtimes, http, hooks, hostile):
    server, url = await hostile(0)
    attempt = await _round_with_a_healthy_neighbour(runtimes, http, hooks, url)
    assert attempt.status_code == 200 and len(attempt.response_body) <= BODY_KEPT
    await asyncio.wait_for(server.closed.wait(), 10)  # the client hung up
    assert server.sent < 64 * 1024 * 1024  # what socket buffers took before the client hung up, not 1 GiB


@pytest.mark.parametrize("kind", ["drip", "silent"])
async def test_a_slow_drip_is_cut_by_the_attempts_total_deadline(runtimes, http, hooks, hostile, kind):
    """16 bytes every 0.2 s (under the 1 KiB cap) never trips a per-read timeout, and a receiver that
    never answers keeps the attempt open: the 1 s deadline of the whole attempt cuts both, recorded."""
    server, url = await (hostile(0.2, chunk=b"y" * 16) if kind == "drip" else hostile(0, answer=False))
    attempt = await _round_with_a_healthy_neighbour(runtimes, http, hooks, url)
    assert attempt.status_code is None and attempt.error == "timeout"
    assert attempt.latency_ms < 10_000
