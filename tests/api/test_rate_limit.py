"""Per-API-key rate limit with the Redis token bucket `ctrip api` uses (CONTRACT §3: 429).

Real Redis at REDIS_URL; each test's merchant is new, so its bucket (keyed by the API key's hash)
is its own and nothing global is flushed.
"""

from __future__ import annotations

import asyncio
import logging

import pytest_asyncio
from testbed import REDIS_URL

from ctrip_core.api import create_app
from ctrip_core.api.ratelimit import RedisRateLimiter
from ctrip_core.devnet.anvil import free_port


@pytest_asyncio.fixture
async def limited(runtime):
    """→ make(rate, burst, url) giving a test client whose app uses a RedisRateLimiter; closed after."""
    limiters: list[RedisRateLimiter] = []

    def make(rate: float, burst: int, redis_url: str = REDIS_URL):
        limiter = RedisRateLimiter(redis_url, rate, burst)
        limiters.append(limiter)
        return create_app(runtime, limiter=limiter).test_client()

    yield make
    for limiter in limiters:
        await limiter.close()


async def _list(client, merchant):
    return await client.get("/v1/payments?limit=1", headers=merchant["headers"])


async def test_burst_then_429_with_retry_after(limited, merchant):
    client = limited(rate=0.2, burst=5)  # one token every 5 s: none comes back during the test
    statuses = [(await _list(client, merchant)).status_code for _ in range(5)]
    assert statuses == [200] * 5
    limited_response = await _list(client, merchant)
    assert limited_response.status_code == 429
    assert (await limited_response.get_json())["error"]["code"] == "rate_limited"
    retry_after = limited_response.headers["Retry-After"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 5


async def test_another_api_key_is_unaffected(limited, merchant, other_merchant):
    client = limited(rate=0.2, burst=2)
    for _ in range(2):
        assert (await _list(client, merchant)).status_code == 200
    assert (await _list(client, merchant)).status_code == 429
    assert (await _list(client, other_merchant)).status_code == 200
    assert (await _list(client, merchant)).status_code == 429


async def test_retry_after_is_honest(limited, merchant):
    """Waiting the advertised Retry-After is enough for the next request to pass."""
    client = limited(rate=0.5, burst=2)  # a token every 2 s
    for _ in range(2):
        assert (await _list(client, merchant)).status_code == 200
    denied = await _list(client, merchant)
    assert denied.status_code == 429
    retry_after = int(denied.headers["Retry-After"])
    assert 1 <= retry_after <= 2
    await asyncio.sleep(retry_after)
    assert (await _list(client, merchant)).status_code == 200


async def test_fails_open_and_logs_when_redis_is_unreachable(limited, merchant, caplog):
    """A Redis outage must not take payments down: requests pass, each one logs a warning."""
    client = limited(rate=0.2, burst=1, redis_url=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
    with caplog.at_level(logging.WARNING, logger="ctrip_core.api.ratelimit"):
        statuses = [(await _list(client, merchant)).status_code for _ in range(3)]
    assert statuses == [200] * 3  # more than the burst of 1: the limiter let them through
    warnings = [r for r in caplog.records if r.name == "ctrip_core.api.ratelimit" and r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert "rate limiter unavailable" in warnings[0].getMessage()


async def test_a_call_may_bring_its_own_rate_and_burst():
    """The checkout's per-client buckets ride on the same limiter with their own policy."""
    import uuid

    from ctrip_core.api.ratelimit import MemoryRateLimiter

    redis_limiter = RedisRateLimiter(REDIS_URL, 1000, 1000)
    try:
        for limiter in (redis_limiter, MemoryRateLimiter(1000, 1000)):
            key = f"pay:test-{uuid.uuid4().hex}"
            decisions = [await limiter.hit(key, rate_per_s=0.1, burst=2) for _ in range(3)]
            assert [d.allowed for d in decisions] == [True, True, False]
            assert 5 < decisions[-1].retry_after_s <= 10  # one token at 0.1/s
            assert (await limiter.hit(f"other-{key}")).allowed  # the default policy is untouched
    finally:
        await redis_limiter.close()


async def test_concurrent_hits_share_a_pipeline_and_each_gets_its_own_decision(monkeypatch):
    """Ten requests at once on a burst of 4: exactly four pass, in fewer round trips than calls."""
    import uuid

    limiter = RedisRateLimiter(REDIS_URL, 0.01, 4)
    batches: list[int] = []
    send = limiter._send_hits

    async def counted(hits):
        batches.append(len(hits))
        return await send(hits)

    monkeypatch.setattr(limiter._hits, "_send_batch", counted)
    key = f"test-{uuid.uuid4().hex}"
    try:
        decisions = await asyncio.gather(*(limiter.hit(key) for _ in range(10)))
        others = await asyncio.gather(*(limiter.hit(f"other-{key}") for _ in range(2)))
    finally:
        await limiter.close()
    assert sum(d.allowed for d in decisions) == 4 and all(d.retry_after_s > 0 for d in decisions if not d.allowed)
    assert all(d.allowed for d in others)  # another bucket in the same pipeline is its own
    assert sum(batches) == 12 and len(batches) < 12


async def test_the_script_is_loaded_again_when_redis_has_lost_it():
    """After a Redis restart (or SCRIPT FLUSH) the first pipelined call answers NOSCRIPT: reload, resend."""
    import uuid

    import redis.asyncio as aioredis

    limiter = RedisRateLimiter(REDIS_URL, 0.01, 2)
    admin = aioredis.from_url(REDIS_URL)
    key = f"test-{uuid.uuid4().hex}"
    try:
        assert (await limiter.hit(key)).allowed
        await admin.script_flush()
        decisions = await asyncio.gather(*(limiter.hit(key) for _ in range(2)))
    finally:
        await limiter.close()
        await admin.aclose()
    assert [d.allowed for d in decisions] == [True, False]  # the bucket kept its state; no fail-open


async def test_with_redis_unreachable_a_request_tries_it_once(limited, merchant, monkeypatch):
    """An uncached key reads the revocation mark first; when that fails, the token is not tried too
    (against a Redis that drops packets each try would cost the 0.5 s socket timeout)."""
    tries: list[str] = []
    hit, mark = RedisRateLimiter.hit, RedisRateLimiter.revocation_mark

    async def counted_hit(self, key, **kwargs):
        tries.append("hit")
        return await hit(self, key, **kwargs)

    async def counted_mark(self):
        tries.append("mark")
        return await mark(self)

    monkeypatch.setattr(RedisRateLimiter, "hit", counted_hit)
    monkeypatch.setattr(RedisRateLimiter, "revocation_mark", counted_mark)
    client = limited(rate=0.2, burst=1, redis_url=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
    statuses = [(await _list(client, merchant)).status_code for _ in range(3)]
    assert statuses == [200] * 3 and tries == ["mark"] * 3
