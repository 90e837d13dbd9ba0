"""HotPool on real PostgreSQL: connections are reused; one a cancellation or a killed backend left
in doubt is never handed out again; a server-reported or application error keeps it; the size caps
the connections open at once; the runtime's payment writer on PostgreSQL runs on one and `close()`
closes it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text

from ctrip_core.db.engine import create_engine
from ctrip_core.db.hot_pool import HotPool
from ctrip_core.db.hot_statements import HotStatement
from ctrip_core.db.payment_writer import PostgresPaymentWriter
from ctrip_core.runtime import build_runtime
from testbed import make_settings

BACKEND_PID = HotStatement(select(text("pg_backend_pid()")))
DIVIDE_BY_ZERO = HotStatement(select(text("1 / 0")))
SLEEP = HotStatement(select(text("pg_sleep(30)")))


@pytest.fixture
async def engine(migrated_pg_url):
    engine = create_engine(migrated_pg_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def pool(engine):
    pool = HotPool(engine, size=2)
    yield pool
    await pool.close()


async def pid_of(pool: HotPool) -> int:
    return await BACKEND_PID.scalar(pool)  # one statement, on a connection of the pool


async def test_a_connection_is_reused(pool):
    first = await pid_of(pool)
    assert await pid_of(pool) == first
    assert repr(pool) == "HotPool(open=1, idle=1)"


async def test_server_and_application_errors_keep_the_connection(pool):
    first = await pid_of(pool)
    with pytest.raises(Exception, match="division by zero"):
        await DIVIDE_BY_ZERO.scalar(pool)
    with pytest.raises(ValueError):
        async with pool.connection():
            raise ValueError("a 422 raised while the connection was held")
    assert await pid_of(pool) == first


async def test_a_cancelled_statement_drops_its_connection(pool):
    first = await pid_of(pool)

    task = asyncio.create_task(SLEEP.scalar(pool))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await pid_of(pool) != first  # the doubtful connection was terminated, a fresh one opened
    assert repr(pool) == "HotPool(open=1, idle=1)"


async def test_a_killed_backend_is_replaced(pool, engine):
    victim = await pid_of(pool)
    async with engine.connect() as admin:
        await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
    with pytest.raises(Exception):  # noqa: B017 - whichever error the driver raises for a dead link
        await pid_of(pool)
    assert await pid_of(pool) != victim


async def test_at_most_size_connections_are_open_at_once(pool):
    held, release = asyncio.Event(), asyncio.Event()
    inside, most = 0, 0

    async def hold() -> int:
        nonlocal inside, most
        async with pool.connection() as conn:
            inside += 1
            most = max(most, inside)
            if inside == 2:
                held.set()
            await release.wait()
            inside -= 1
            return await conn.fetchval("SELECT pg_backend_pid()")

    tasks = [asyncio.create_task(hold()) for _ in range(5)]
    await held.wait()
    await asyncio.sleep(0.05)
    assert inside == 2  # the other three wait for a connection
    release.set()
    pids = await asyncio.gather(*tasks)
    assert most == 2 and len(set(pids)) == 2


async def test_the_runtime_writes_payments_through_its_pool_and_closes_it(migrated_pg_url, chains_file):
    runtime = build_runtime(make_settings(migrated_pg_url, chains_file), "api")  # its own: closed here
    writer = runtime.payment_writer
    assert isinstance(writer, PostgresPaymentWriter)
    pool = writer.pool
    assert isinstance(pool, HotPool) and pool.dialect.name == "postgresql"
    async with pool.connection() as conn:
        driver = conn
    assert await BACKEND_PID.scalar(pool) == await BACKEND_PID.scalar(pool)  # one statement, one checkout
    await runtime.close()
    assert driver.is_closed()
