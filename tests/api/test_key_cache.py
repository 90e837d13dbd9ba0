"""Verified API keys are reused only while no key has been revoked since (api/key_cache.py).

The cache is what spares the database a round trip per request; these tests pin that it never
outlives a revocation made through `ctrip merchant revoke-key` (which replaces the revocation mark
in Redis), that a revocation made around the command is honoured within `api.key_cache_s`, and that
without a mark (Redis down, or the in-memory limiter of `ctrip dev`) nothing is trusted from memory.
"""

from __future__ import annotations

import pytest_asyncio
from testbed import REDIS_URL

from ctrip_core.api import create_app
from ctrip_core.api.key_cache import KeyCache
from ctrip_core.api.ratelimit import RedisRateLimiter
from ctrip_core.devnet.anvil import free_port
from ctrip_core.services.accounts.api_keys import announce_revocation
from ctrip_core.services.accounts.merchants import add_api_key, revoke_api_key

# --- the cache on its own ------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_trusted_only_under_the_mark_it_was_verified_under():
    cache = KeyCache(ttl_s=60)
    cache.remember("h1", "mer_1", "mark-a")
    assert cache.grant_for("h1", "mark-a") == "mer_1"
    assert cache.grant_for("h1", "mark-b") is None  # a key was revoked since: look it up again
    assert "h1" not in cache and cache.grant_for("h1", "mark-a") is None  # and the entry is gone


def test_no_mark_means_nothing_is_cached_or_trusted():
    cache = KeyCache(ttl_s=60)
    cache.remember("h1", "mer_1", None)
    assert "h1" not in cache
    cache.remember("h2", "mer_2", "m")
    assert cache.grant_for("h2", None) is None


def test_entries_expire_after_ttl_and_zero_disables():
    clock = Clock()
    cache = KeyCache(ttl_s=60, clock=clock)
    cache.remember("h1", "mer_1", "m")
    clock.now += 59.9
    assert cache.grant_for("h1", "m") == "mer_1"
    clock.now += 0.2
    assert cache.grant_for("h1", "m") is None
    disabled = KeyCache(ttl_s=0)
    disabled.remember("h1", "mer_1", "m")
    assert "h1" not in disabled


def test_the_cache_is_bounded_least_recently_used_out_first():
    cache = KeyCache(ttl_s=60, max_entries=2)
    cache.remember("h1", "mer_1", "m")
    cache.remember("h2", "mer_2", "m")
    assert cache.grant_for("h1", "m") == "mer_1"  # h1 used: h2 is now the oldest
    cache.remember("h3", "mer_3", "m")
    assert "h2" not in cache and cache.grant_for("h1", "m") == "mer_1" and "h3" in cache


# --- against the app, with the Redis limiter `ctrip api` uses ------------------------------------


@pytest_asyncio.fixture
async def app_with(runtime):
    """→ make(redis_url=..., key_cache_s=...) giving a test client like `ctrip api`'s app; limiters closed after."""
    limiters: list[RedisRateLimiter] = []

    def make(redis_url: str = REDIS_URL, key_cache_s: float = 60):
        limiter = RedisRateLimiter(redis_url, 1000, 1000)
        limiters.append(limiter)
        app = create_app(runtime, limiter=limiter)
        app.extensions["ctrip"].key_cache = KeyCache(key_cache_s)
        return app.test_client()

    yield make
    for limiter in limiters:
        await limiter.close()


async def _fresh_key(runtime, merchant) -> tuple[str, dict[str, str]]:
    async with runtime.sessions() as session, session.begin():
        key_id, key = await add_api_key(session, merchant["id"])
    return key_id, {"Authorization": f"Bearer {key}"}


async def _revoke_in_database_only(runtime, key_id: str) -> None:
    async with runtime.sessions() as session, session.begin():
        assert await revoke_api_key(session, key_id) is not None


async def _status(client, headers) -> int:
    return (await client.get("/v1/payments?limit=1", headers=headers)).status_code


async def test_a_revocation_announced_like_revoke_key_does_ends_a_cached_key_at_once(runtime, app_with, merchant):
    client = app_with()
    key_id, headers = await _fresh_key(runtime, merchant)
    assert await _status(client, headers) == 200  # verified in the database, now cached

    await _revoke_in_database_only(runtime, key_id)
    # Without the announcement the cached key is still served: this is the round trip the cache saves...
    assert await _status(client, headers) == 200
    await announce_revocation(REDIS_URL)
    # ...and once the mark changed, the very next request is looked up again and refused.
    assert await _status(client, headers) == 401
    assert await _status(client, merchant["headers"]) == 200  # other keys are looked up again, and pass


async def test_a_key_revoked_before_its_lookup_is_never_cached_as_valid(runtime, app_with, merchant):
    client = app_with()
    key_id, headers = await _fresh_key(runtime, merchant)
    await _revoke_in_database_only(runtime, key_id)
    await announce_revocation(REDIS_URL)
    assert await _status(client, headers) == 401
    assert await _status(client, headers) == 401


async def test_without_the_cache_every_request_is_looked_up(runtime, app_with, merchant):
    client = app_with(key_cache_s=0)
    key_id, headers = await _fresh_key(runtime, merchant)
    assert await _status(client, headers) == 200
    await _revoke_in_database_only(runtime, key_id)
    assert await _status(client, headers) == 401


async def test_with_redis_unreachable_nothing_is_trusted_from_memory(runtime, app_with, merchant):
    client = app_with(redis_url=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens: no mark
    key_id, headers = await _fresh_key(runtime, merchant)
    assert await _status(client, headers) == 200  # the limiter fails open
    await _revoke_in_database_only(runtime, key_id)
    assert await _status(client, headers) == 401


async def test_the_in_memory_limiter_of_ctrip_dev_caches_nothing(runtime, app, merchant):
    client = app.test_client()
    key_id, headers = await _fresh_key(runtime, merchant)
    assert await _status(client, headers) == 200
    await _revoke_in_database_only(runtime, key_id)
    assert await _status(client, headers) == 401
