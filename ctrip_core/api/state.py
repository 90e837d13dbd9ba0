"""What the running app holds (runtime, rate limiter, metrics, broker check, verified keys): `app_state()`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from quart import current_app

from ctrip_core.api.key_cache import KeyCache
from ctrip_core.api.metrics import ApiMetrics
from ctrip_core.api.ratelimit import RateLimiter
from ctrip_core.runtime import Runtime


@dataclass
class AppState:
    runtime: Runtime
    limiter: RateLimiter
    metrics: ApiMetrics
    #: Returns None when the job broker answers, else why not.
    broker_check: Callable[[], Awaitable[str | None]]
    #: API keys verified in this process (api/key_cache.py).
    key_cache: KeyCache
    #: Checkout event streams open in this process (capped by api.checkout_max_streams).
    checkout_streams: int = 0
    #: Dashboard password checks at once in this process: argon2 takes 64 MiB and a core's tens of ms each.
    login_checks: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))


def app_state() -> AppState:
    return current_app.extensions["ctrip"]
