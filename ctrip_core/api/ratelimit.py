"""Per-API-key rate limit: a token bucket in Redis (shared by every API process) or in memory (`ctrip dev`).

When Redis cannot be reached the request is let through and the fault logged: a broker outage
must not take payments down with it (documented in docs/operations.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

# KEYS[1] bucket; ARGV rate/s, burst. Returns {allowed (0/1), seconds until a token is free}.
_BUCKET_LUA = """
local rate = tonumber(ARGV[1]); local burst = tonumber(ARGV[2])
local t = redis.call('TIME'); local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
if allowed == 1 then return {1, '0'} end
return {0, tostring((1 - tokens) / rate)}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0


class RateLimiter:
    async def hit(self, key: str, *, rate_per_s: float | None = None, burst: int | None = None) -> Decision:
        """Take a token from `key`'s bucket; rate and burst default to the limiter's (API keys)."""
        raise NotImplementedError

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

    def __init__(self, redis_url: str, rate_per_s: float, burst: int):
        import redis.asyncio as aioredis

        self.rate, self.burst = rate_per_s, burst
        self._redis = aioredis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._redis.register_script(_BUCKET_LUA)

    async def hit(self, key: str, *, rate_per_s: float | None = None, burst: int | None = None) -> Decision:
        try:
            allowed, retry = await self._script(keys=[f"ctrip:ratelimit:{key}"],
                                                args=[rate_per_s or self.rate, burst or self.burst])
        except Exception as exc:  # noqa: BLE001 - fail open, see module docstring
            log.warning("rate limiter unavailable, letting the request through: %s", type(exc).__name__)
            return Decision(True)
        return Decision(bool(int(allowed)), float(retry))

    async def close(self) -> None:
        await self._redis.aclose()
