"""Per-API-key rate limit: a token bucket in Redis (shared by every API process) or in memory (`ctrip dev`).

When Redis cannot be reached the request is let through and the fault logged: a broker outage
must not take payments down with it (documented in docs/operations.md).

The Redis call also answers the API keys' revocation mark (api/key_cache.py): every /v1 request
makes this call anyway, so checking that no key was revoked since a cached lookup costs nothing more.

Concurrent requests of one process share a pipelined round trip (ctrip_core/coalesce.py): one
pool checkout and one write and read for many buckets, instead of each (redis-py's checkout alone,
with its lock and its check that the socket holds no stray data, cost about 20 µs a call). Each
script call stays atomic on its own; only their transport is shared.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ctrip_core.coalesce import Coalescer
from ctrip_core.services.accounts.api_keys import REVOCATION_MARK_KEY

log = logging.getLogger(__name__)

# KEYS[1] bucket, KEYS[2] the revocation mark; ARGV rate/s, burst.
# Returns {allowed (0/1), seconds until a token is free, the revocation mark ('' when unset)}.
_BUCKET_LUA = """
local rate = tonumber(ARGV[1]); local burst = tonumber(ARGV[2])
local t = redis.call('TIME'); local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local mark = redis.call('GET', KEYS[2]) or ''
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
if allowed == 1 then return {1, '0', mark} end
return {0, tostring((1 - tokens) / rate), mark}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0
    #: The API keys' revocation mark read with the bucket, or None when the limiter cannot tell.
    revocation_mark: str | None = None


class LimiterUnavailable(Exception):
    """The limiter's store could not be reached; callers let the request through (fail open)."""


class RateLimiter:
    async def hit(self, key: str, *, rate_per_s: float | None = None, burst: int | None = None) -> Decision:
        """Take a token from `key`'s bucket; rate and burst default to the limiter's (API keys)."""
        raise NotImplementedError

    async def revocation_mark(self) -> str | None:
        """The API keys' revocation mark (api/key_cache.py), or None when this limiter keeps none.

        Raises `LimiterUnavailable` when its store cannot be reached (after logging the outage):
        the request then goes through without a second try at the store (`hit` would fail open too).
        """
        return None

    async def close(self) -> None:
        pass


class MemoryRateLimiter(RateLimiter):
    """Token buckets in this process: for the single-process embedded default."""

    def __init__(self, rate_per_s: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self._clock = rate_per_s, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}

    async def hit(self, key: str, *, rate_per_s: float | None = None, burst: int | None = None) -> Decision:
        rate, burst = rate_per_s or self.rate, burst or self.burst
        now = self._clock()
        tokens, ts = self._buckets.get(key, (float(burst), now))
        tokens = min(burst, tokens + (now - ts) * rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return Decision(True)
        self._buckets[key] = (tokens, now)
        return Decision(False, (1 - tokens) / rate)


class RedisRateLimiter(RateLimiter):
    """Token buckets in Redis, one per API key hash, updated atomically by a Lua script."""

    #: Most script calls one pipelined round trip carries.
    MAX_PIPELINE = 64

    def __init__(self, redis_url: str, rate_per_s: float, burst: int):
        import redis.asyncio as aioredis

        self.rate, self.burst = rate_per_s, burst
        self._redis = aioredis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._sha = hashlib.sha1(_BUCKET_LUA.encode()).hexdigest()
        self._hits: Coalescer[tuple[str, float, int]] = Coalescer(self._send_hits, self.MAX_PIPELINE)

    async def hit(self, key: str, *, rate_per_s: float | None = None, burst: int | None = None) -> Decision:
        try:
            allowed, retry, mark = await self._hits.submit((f"ctrip:ratelimit:{key}", rate_per_s or self.rate,
                                                            burst or self.burst))
        except Exception as exc:  # noqa: BLE001 - fail open, see module docstring
            _log_outage(exc)
            return Decision(True)
        return Decision(bool(int(allowed)), float(retry), _text(mark))

    async def _send_hits(self, hits: Sequence[tuple[str, float, int]]) -> list[Any]:
        """The script for each bucket, pipelined; loaded first if Redis lost it (a restart, SCRIPT FLUSH)."""
        from redis.exceptions import NoScriptError

        results = await self._pipeline(hits)
        if any(isinstance(result, NoScriptError) for result in results):
            await self._redis.script_load(_BUCKET_LUA)
            results = await self._pipeline(hits)
        return results

    async def _pipeline(self, hits: Sequence[tuple[str, float, int]]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for bucket, rate, burst in hits:
            pipe.evalsha(self._sha, 2, bucket, REVOCATION_MARK_KEY, rate, burst)
        return await pipe.execute(raise_on_error=False)

    async def revocation_mark(self) -> str | None:
        try:
            return _text(await self._redis.get(REVOCATION_MARK_KEY) or b"")
        except Exception as exc:  # noqa: BLE001 - fail open, see module docstring
            _log_outage(exc)
            raise LimiterUnavailable from None

    async def close(self) -> None:
        await self._redis.aclose()


def _log_outage(exc: Exception) -> None:
    log.warning("rate limiter unavailable, letting the request through: %s", type(exc).__name__)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
