"""`ctrip health KIND` reads this host's heartbeat in Redis: fresh → exit 0, missing or stale → exit 1
with one line (the live path, with real processes beating, is tests/deploy/test_compose_commands.py)."""

from __future__ import annotations

import subprocess
import time

import pytest
from redis import Redis

from ctrip_core.jobs.heartbeat import STALE_S, heartbeat_key
from subprocesses import CTRIP, dev_env

pytestmark = pytest.mark.timeout(60)


def health(kind: str, redis_url: str, tmp_path) -> subprocess.CompletedProcess:
    env = dev_env() | {"CTRIP_ENV": "testing", "CTRIP_REDIS_URL": redis_url}
    return subprocess.run([CTRIP, "health", kind], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)


def test_missing_stale_and_fresh_heartbeats(redis_url, tmp_path):
    redis = Redis.from_url(redis_url)
    key = heartbeat_key("scheduler")
    redis.delete(key)
    missing = health("scheduler", redis_url, tmp_path)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1, missing.stderr
    assert "no scheduler heartbeat" in missing.stderr

    redis.set(key, f"{time.time() - STALE_S - 5:.3f}", ex=60)
    stale = health("scheduler", redis_url, tmp_path)
    assert stale.returncode == 1 and "s old" in stale.stderr and stale.stderr.count("\n") == 1, stale.stderr

    redis.set(key, f"{time.time():.3f}", ex=60)
    fresh = health("scheduler", redis_url, tmp_path)
    assert fresh.returncode == 0 and fresh.stdout.strip() == "scheduler: live", fresh.stderr
    redis.delete(key)


def test_an_unknown_kind_is_bad_usage(redis_url, tmp_path):
    result = health("api", redis_url, tmp_path)
    assert result.returncode == 2 and "worker" in result.stderr


def test_redis_down_is_one_line_exit_1(tmp_path):
    result = health("worker", "redis://127.0.0.1:1/0", tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr


def test_a_worker_beats_only_while_its_threads_are_alive(redis_url):
    from ctrip_core.jobs.heartbeat import WorkerHeartbeat, check

    redis = Redis.from_url(redis_url)
    redis.delete(heartbeat_key("sweeper"))
    alive = {"threads": False}
    heartbeat = WorkerHeartbeat(redis_url, "sweeper", lambda: alive["threads"])
    heartbeat.start()
    try:
        time.sleep(0.3)
        assert "no sweeper heartbeat" in check(redis_url, "sweeper")  # threads dead: no beat
    finally:
        heartbeat.stop()
    alive["threads"] = True
    heartbeat = WorkerHeartbeat(redis_url, "sweeper", lambda: alive["threads"])
    heartbeat.start()
    try:
        deadline = time.monotonic() + 5
        while check(redis_url, "sweeper") is not None:
            assert time.monotonic() < deadline, check(redis_url, "sweeper")
            time.sleep(0.05)
        assert 0 < redis.ttl(heartbeat_key("sweeper")) <= STALE_S  # a beat that is not renewed expires
    finally:
        heartbeat.stop()
        redis.delete(heartbeat_key("sweeper"))


async def test_the_scheduler_beats_from_its_event_loop_until_stopped(redis_url):
    import asyncio

    from redis.asyncio import Redis as AsyncRedis

    from ctrip_core.jobs.heartbeat import beat_until, check

    redis = AsyncRedis.from_url(redis_url)
    await redis.delete(heartbeat_key("scheduler"))
    stop = asyncio.Event()
    task = asyncio.create_task(beat_until(redis, "scheduler", stop))
    try:
        for _ in range(50):
            if await redis.get(heartbeat_key("scheduler")):
                break
            await asyncio.sleep(0.05)
        assert await asyncio.to_thread(check, redis_url, "scheduler") is None
    finally:
        stop.set()
        await asyncio.wait_for(task, 2)  # returns promptly once stopped
        await redis.delete(heartbeat_key("scheduler"))
        await redis.aclose()
