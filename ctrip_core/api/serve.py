"""The production wiring of the API: settings from the environment, Redis rate limits, broker check.

Hypercorn calls `asgi_app()` once in each worker process (`ctrip api --workers N`), so every
worker builds its own runtime, database pool and Redis connection after the fork.
"""

from __future__ import annotations

from quart import Quart

from ctrip_core.api.app import create_app
from ctrip_core.api.ratelimit import RedisRateLimiter
from ctrip_core.config import load_settings
from ctrip_core.logs import configure_logging
from ctrip_core.runtime import build_runtime
from ctrip_core.parent_death import die_with_parent


def redis_check(redis_url: str):
    """An async check that the job broker (Redis) answers PING; None when it does."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)

    async def check() -> str | None:
        return None if await client.ping() else "no PONG"

    return check, client


def asgi_app() -> Quart:
    """`ctrip api` checked the database, Redis and chains before spawning this worker (preflight.py)."""
    die_with_parent()  # a Hypercorn worker: never outlive `ctrip api`
    configure_logging()
    settings = load_settings()
    runtime = build_runtime(settings, "api")
    limiter = RedisRateLimiter(settings.redis_url, settings.api.rate_limit_per_s, settings.api.rate_limit_burst)
    check, redis_client = redis_check(settings.redis_url)
    app = create_app(runtime, limiter=limiter, broker_check=check)

    @app.after_serving
    async def shutdown() -> None:
        await limiter.close()
        await redis_client.aclose()
        await runtime.close()

    return app
