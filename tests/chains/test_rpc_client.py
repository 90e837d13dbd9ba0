"""`RpcClient` against a real Anvil behind the fault-injecting proxy: retries, failover, batching, backoff.

Retry delays go through an injected `sleep` that records them and returns at once, so no test
sleeps for real; only the "timeout" fault waits for the client's (short) HTTP timeout.
"""

from __future__ import annotations

import pytest
from fault_proxy import FaultProxy

from ctrip_core.chains.rpc import (RetryPolicy, RpcClient, RpcResponseError, RpcTransportError,
                                   RpcUnavailable)
from ctrip_core.chains.types import MalformedAnswer
from ctrip_core.devnet.anvil import free_port

ANVIL_CHAIN_ID = hex(31337)
CLIENT_TIMEOUT_S = 0.3  # well under the proxy's 2 s hold, so "timeout" costs 0.3 s per hit
FAST = RetryPolicy(attempts=4, base_delay_s=0.001, max_delay_s=0.002)

#: Faults the client must treat as transport faults: retried, then fine once the fault clears.
RETRIED_MODES = ["http500", "http429", "timeout", "garbage", "wrong_shape", "missing_ids", "rate_limit_code",
                 "drop"]


class Recorder:
    """Injected `sleep` and `on_fault` hook: remembers what the client did instead of waiting."""

    def __init__(self):
        self.delays: list[float] = []
        self.faults: list[tuple[str, str]] = []

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)

    def on_fault(self, url: str, kind: str) -> None:
        self.faults.append((url, kind))


@pytest.fixture
def proxy(anvil):
    with FaultProxy(anvil.rpc_url) as p:
        yield p


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
async def make_client(rec):
    clients: list[RpcClient] = []

    def make(urls: list[str], *, retry: RetryPolicy = FAST, **kwargs) -> RpcClient:
        client = RpcClient(urls, timeout_s=CLIENT_TIMEOUT_S, retry=retry, sleep=rec.sleep, on_fault=rec.on_fault,
                           **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def dead_url() -> str:
    """A local port nobody listens on: connecting fails at once."""
    return f"http://127.0.0.1:{free_port()}"


async def test_success_passes_through(anvil, proxy, make_client, rec):
    client = make_client([proxy.url])
    assert await client.call("eth_chainId") == ANVIL_CHAIN_ID
    head, chain_id = await client.batch([("eth_blockNumber", []), ("eth_chainId", [])])
    assert int(head, 16) >= 0 and chain_id == ANVIL_CHAIN_ID
    block = await client.call("eth_getBlockByNumber", "0x0", False)
    assert block["hash"] == anvil.rpc("eth_getBlockByNumber", "0x0", False)["hash"]
    assert proxy.requests == 3 and proxy.forwarded == 3
    assert [s.methods for s in proxy.seen] == [("eth_chainId",), ("eth_blockNumber", "eth_chainId"),
                                               ("eth_getBlockByNumber",)]
    assert rec.delays == [] and rec.faults == []


@pytest.mark.parametrize("mode", RETRIED_MODES)
async def test_fault_is_retried_until_it_clears(proxy, make_client, rec, mode):
    client = make_client([proxy.url])
    proxy.fail_next(2, mode)
    assert await client.call("eth_chainId") == ANVIL_CHAIN_ID
    assert proxy.requests == 3  # two faulted attempts, then the good one
    assert [s.fault for s in proxy.seen] == [mode, mode, None]
    assert proxy.forwarded == (3 if mode == "missing_ids" else 1)  # missing_ids still reaches the node
    assert len(rec.delays) == 2
    assert [url for url, _ in rec.faults] == [proxy.url, proxy.url]
    assert all(kind == "RpcTransportError" for _, kind in rec.faults)


async def test_a_batch_is_retried_whole(proxy, make_client):
    client = make_client([proxy.url])
    proxy.fail_next(1, "missing_ids")
    results = await client.batch([("eth_chainId", []), ("eth_getBlockByNumber", ["0x0", False])])
    assert results[0] == ANVIL_CHAIN_ID and results[1]["number"] == "0x0"
    assert proxy.requests == 2


@pytest.mark.parametrize("mode", ["http500", "garbage", "drop", "rate_limit_code"])
async def test_persistent_fault_gives_unavailable(proxy, make_client, rec, mode):
    client = make_client([proxy.url])
    proxy.fail_next(100, mode)
    with pytest.raises(RpcUnavailable) as info:
        await client.call("eth_chainId")
    assert proxy.requests == FAST.attempts
    assert len(rec.delays) == FAST.attempts - 1  # no pointless sleep after the last attempt
    assert isinstance(info.value.last, RpcTransportError)
    assert "eth_chainId" in str(info.value) and f"{FAST.attempts} attempts" in str(info.value)


async def test_persistent_timeout_gives_unavailable(proxy, make_client, rec):
    client = make_client([proxy.url], retry=RetryPolicy(attempts=2, base_delay_s=0.001, max_delay_s=0.001))
    proxy.fail_next(2, "timeout")
    with pytest.raises(RpcUnavailable):
        await client.call("eth_blockNumber")
    assert proxy.requests == 2 and len(rec.delays) == 1


async def test_every_url_dead_gives_unavailable(make_client, rec):
    urls = [dead_url(), dead_url()]
    client = make_client(urls)
    with pytest.raises(RpcUnavailable) as info:
        await client.call("eth_chainId")
    assert isinstance(info.value.last, RpcTransportError)
    assert [url for url, _ in rec.faults] == [urls[0], urls[1], urls[0], urls[1]]  # round robin
    assert len(rec.delays) == FAST.attempts - 1


async def test_a_key_in_the_url_reaches_no_error_and_no_fault_hook(make_client, rec):
    """Provider URLs carry API keys; errors, logs and metrics name the node by scheme, host and port."""
    keyed = [dead_url() + "/v3/SECRETKEY0123", dead_url().replace("://", "://user:SECRETPASS@") + "/?key=SECRETQ"]
    client = make_client(keyed)
    with pytest.raises(RpcUnavailable) as info:
        await client.call("eth_chainId")
    assert "SECRET" not in str(info.value) and "SECRET" not in str(info.value.last)
    assert rec.faults and not any("SECRET" in url for url, _ in rec.faults)
    assert all(url.startswith("http://127.0.0.1:") for url, _ in rec.faults)


async def test_failover_to_second_url_and_remember_it(proxy, make_client, rec):
    dead = dead_url()
    client = make_client([dead, proxy.url])
    assert await client.call("eth_chainId") == ANVIL_CHAIN_ID
    assert rec.faults == [(dead, "RpcTransportError")]
    assert proxy.requests == 1
    # The working URL is now preferred: later calls go straight to it, no fault, no sleep.
    for _ in range(3):
        assert await client.call("eth_chainId") == ANVIL_CHAIN_ID
    assert rec.faults == [(dead, "RpcTransportError")] and len(rec.delays) == 1
    assert proxy.requests == 4


async def test_failover_goes_round_and_back(anvil, make_client, rec):
    with FaultProxy(anvil.rpc_url) as first, FaultProxy(anvil.rpc_url) as second:
        client = make_client([first.url, second.url])
        first.fail_next(1, "http500")
        assert await client.call("eth_chainId") == ANVIL_CHAIN_ID
        assert (first.requests, second.requests) == (1, 1)
        second.fail_next(1, "drop")  # the preferred URL is now `second`; its fault sends us back to `first`
        assert await client.call("eth_chainId") == ANVIL_CHAIN_ID
        assert (first.requests, second.requests) == (2, 2)
        assert await client.call("eth_chainId") == ANVIL_CHAIN_ID
        assert (first.requests, second.requests) == (3, 2)
        assert [url for url, _ in rec.faults] == [first.url, second.url]


async def test_error_from_healthy_node_is_not_retried(proxy, make_client, rec):
    client = make_client([proxy.url])
    with pytest.raises(RpcResponseError) as info:
        await client.call("eth_noSuchMethod")
    assert info.value.method == "eth_noSuchMethod"
    assert info.value.code == -32601  # Anvil: method not found
    assert proxy.requests == 1 and rec.delays == [] and rec.faults == []


async def test_a_node_lacking_the_block_asked_about_is_retried_like_a_lagging_one(anvil, make_client, rec):
    """Anvil answers "BlockOutOfRangeError" (geth "header not found") for a state read past its head:
    that node is behind, not the chain, so the read goes to the next URL instead of failing at once."""
    client = make_client([anvil.rpc_url])
    with pytest.raises(RpcUnavailable):
        await client.call("eth_getBalance", "0x" + "22" * 20, hex(10**9))
    assert len(rec.faults) == FAST.attempts


async def test_injected_rpc_error_is_not_retried(proxy, make_client, rec):
    client = make_client([proxy.url])
    proxy.fail_next(1, "rpc_error")
    with pytest.raises(RpcResponseError) as info:
        await client.call("eth_chainId")
    assert info.value.code == -32000 and "injected fault" in info.value.message
    assert proxy.requests == 1 and rec.delays == []
    assert await client.call("eth_chainId") == ANVIL_CHAIN_ID  # the client is still usable


async def test_error_of_one_call_fails_the_whole_batch(proxy, make_client):
    client = make_client([proxy.url])
    with pytest.raises(RpcResponseError):
        await client.batch([("eth_chainId", []), ("eth_noSuchMethod", []), ("eth_blockNumber", [])])
    assert proxy.requests == 1


async def test_null_result_is_a_valid_answer_at_the_client_level(proxy, make_client, rec):
    """JSON-RPC null (e.g. an unknown block) is passed up; judging it is the adapter's job."""
    client = make_client([proxy.url])
    proxy.fail_next(1, "null_result")
    assert await client.call("eth_chainId") is None
    assert proxy.requests == 1 and rec.delays == []


async def test_batches_larger_than_max_batch_are_split_in_order(anvil, proxy, make_client):
    anvil.rpc("anvil_mine", hex(8))  # the shared chain has at least blocks 0..8 from here on
    client = make_client([proxy.url], max_batch=3)
    numbers = [7, 0, 5, 1, 8, 3, 2, 6]
    blocks = await client.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
    assert [int(b["number"], 16) for b in blocks] == numbers
    assert [len(s.methods) for s in proxy.seen] == [3, 3, 2]


async def test_answers_out_of_order_are_matched_by_id(proxy, make_client):
    client = make_client([proxy.url])
    proxy.fail_next(1, "shuffled")
    numbers = [0, 1, 2]
    calls = [("eth_getBlockByNumber", [hex(n), False]) for n in numbers] + [("eth_chainId", [])]
    *blocks, chain_id = await client.batch(calls)
    assert [int(b["number"], 16) for b in blocks] == numbers and chain_id == ANVIL_CHAIN_ID
    assert proxy.requests == 1


async def test_empty_batch_makes_no_request(proxy, make_client):
    client = make_client([proxy.url])
    assert await client.batch([]) == []
    assert proxy.requests == 0


async def test_parse_hook_runs_inside_the_retry_loop(proxy, make_client, rec):
    """A result the caller's `parse` rejects as malformed is retried like a bad answer."""
    client = make_client([proxy.url])

    def parse(method, params, raw):
        if raw is None:
            raise MalformedAnswer(f"{method}: null")
        return int(raw, 16)

    proxy.fail_next(2, "null_result")
    assert await client.call("eth_chainId", parse=parse) == 31337
    assert proxy.requests == 3 and len(rec.delays) == 2

    proxy.fail_next(100, "null_result")
    with pytest.raises(RpcUnavailable) as info:
        await client.batch([("eth_chainId", []), ("eth_blockNumber", [])], parse=parse)
    assert isinstance(info.value.last, MalformedAnswer)


async def test_parse_hook_other_errors_are_not_retried(proxy, make_client):
    client = make_client([proxy.url])

    def parse(method, params, raw):
        raise KeyError("a bug in the caller, not a node fault")

    with pytest.raises(KeyError):
        await client.call("eth_chainId", parse=parse)
    assert proxy.requests == 1


def test_backoff_is_full_jitter_within_the_cap():
    policy = RetryPolicy(attempts=10, base_delay_s=0.1, max_delay_s=2.0)
    for attempt in range(10):
        cap = min(policy.max_delay_s, policy.base_delay_s * 2 ** attempt)
        samples = [policy.delay(attempt) for _ in range(300)]
        assert all(0 <= d <= cap for d in samples), attempt
        # Full jitter spreads over the whole range (P[all below cap/2] = 2**-300).
        assert max(samples) > cap / 2 and min(samples) < cap / 2


async def test_client_sleeps_by_the_policy_between_attempts(proxy, make_client, rec):
    policy = RetryPolicy(attempts=6, base_delay_s=0.01, max_delay_s=0.05)
    client = make_client([proxy.url], retry=policy)
    proxy.fail_next(5, "http500")
    assert await client.call("eth_chainId") == ANVIL_CHAIN_ID
    assert len(rec.delays) == 5
    for attempt, delay in enumerate(rec.delays):
        assert 0 <= delay <= min(policy.max_delay_s, policy.base_delay_s * 2 ** attempt)


def test_client_needs_a_url():
    with pytest.raises(ValueError):
        RpcClient([])
