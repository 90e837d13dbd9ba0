"""HotStatement on real PostgreSQL: the driver path (through a HotPool) gives what SQLAlchemy's
path gives (bind processors applied: money, JSON, timestamps). Through a HotPool, concurrent
payment inserts share statements, and a bad row fails only its own insert. (A connection the server
killed is dropped by the pool: tests/db/test_hot_pool.py.) `NewPayment`, what is inserted, holds
exactly Payment's columns."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, fields, replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, select

from ctrip_core.db.engine import create_engine
from ctrip_core.db.hot_pool import HotPool
from ctrip_core.db.hot_statements import HotStatement
from ctrip_core.db.models import Payment
from ctrip_core.db.payment_insert import PAYMENT_COLUMNS, NewPayment, insert_coalesced
from ctrip_core.ids import new_id
from ctrip_core.services.accounts.api_keys import hash_api_key
from ctrip_core.services.accounts.merchants import MERCHANT_FOR_KEY, create_merchant, merchant_for_key

ECHO = HotStatement(select(bindparam("value", type_=Payment.__table__.c.amount_base_units.type)))


@pytest.fixture
async def engine(migrated_pg_url):
    engine = create_engine(migrated_pg_url, pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


@pytest.fixture
async def pool(engine):
    pool = HotPool(engine, size=4)
    yield pool
    await pool.close()


def payment_values(merchant_id: str, index: int) -> NewPayment:
    now = datetime.now(UTC).replace(microsecond=0)
    return NewPayment(id=new_id("pay"), merchant_id=merchant_id, status="pending", chain="anvil", chain_id=31337,
                asset="ETH", token_address=None, decimals=18, amount_base_units=2**255 + 7,
                amount_received_base_units=0, derivation_index=index, address="0x" + f"{index:040x}",
                order_id="o-1", metadata_={"k": "v ü"}, confirmations_required=2, overpaid=False, late=False,
                redirect_url=None, price_base_units=2500, price_currency="USD", rate_value="3012.5500001",
                rate_source="median(coinbase,kraken)", rate_at=now - timedelta(seconds=3), tolerance_base_units=2**200,
                options=[{"chain": "anvil", "rate": "1.5"}], created_at=now, updated_at=now, expires_at=now + timedelta(hours=1),
                detected_at=None, confirmed_at=None)


def test_a_new_payment_holds_exactly_the_payment_columns():
    assert [f.name for f in fields(NewPayment)] == list(PAYMENT_COLUMNS)


async def test_driver_path_and_sqlalchemy_path_agree(engine, pool):
    by_driver = await ECHO.scalar(pool, {"value": 10**70})
    async with engine.connect() as ordinary:  # in a transaction: SQLAlchemy's own execute
        by_sqlalchemy = await ECHO.scalar(ordinary, {"value": 10**70})
    assert by_driver == by_sqlalchemy and int(by_driver) == 10**70


async def test_an_inserted_payment_reads_back_exactly_through_the_orm(pool, runtime):
    async with runtime.sessions() as session, session.begin():
        merchant = await create_merchant(session, "hot")
    payment = payment_values(merchant.merchant_id, 900_000_001)
    await insert_coalesced(pool, payment)  # the driver path: one CTE
    assert await MERCHANT_FOR_KEY.scalar(pool, {"key_hash": hash_api_key(merchant.api_key)}) == merchant.merchant_id
    assert await MERCHANT_FOR_KEY.scalar(pool, {"key_hash": hash_api_key(merchant.api_key + "x")}) is None
    async with runtime.sessions() as session:  # the same statement in a session (`ctrip dev`)
        assert await merchant_for_key(session, merchant.api_key) == merchant.merchant_id
        assert await merchant_for_key(session, merchant.api_key + "x") is None
    async with runtime.sessions() as session:
        stored = await session.get(Payment, payment.id)
    values = asdict(payment)
    assert {key: getattr(stored, key) for key in values} == values


# --- inserts coalesced through the API's HotPool ---------------------------------------------------

async def _merchant_id(runtime) -> str:
    async with runtime.sessions() as session, session.begin():
        return (await create_merchant(session, "coalesced")).merchant_id


async def _stored_ids(runtime, ids) -> set[str]:
    async with runtime.sessions() as session:
        return set(await session.scalars(select(Payment.id).where(Payment.id.in_(ids))))


async def test_concurrent_inserts_share_statements_and_every_row_lands(pool, runtime, monkeypatch):
    statements, fetch = [], pool.fetch

    async def counted(sql, *args):
        statements.append(len(args))
        return await fetch(sql, *args)

    monkeypatch.setattr(pool, "fetch", counted)
    merchant_id = await _merchant_id(runtime)
    rows = [payment_values(merchant_id, 910_000_000 + i) for i in range(40)]
    await asyncio.gather(*(insert_coalesced(pool, row) for row in rows))
    assert await _stored_ids(runtime, [r.id for r in rows]) == {r.id for r in rows}
    async with runtime.sessions() as session:  # money, JSON and timestamps exact through the raw pool
        stored = await session.get(Payment, rows[-1].id)
    last = asdict(rows[-1])
    assert {key: getattr(stored, key) for key in last} == last
    assert len(statements) < 40 and max(statements) > 26  # several payments (26 parameters each) a statement


async def test_a_bad_row_fails_only_its_own_request(pool, runtime):
    merchant_id = await _merchant_id(runtime)
    taken = payment_values(merchant_id, 920_000_000)
    rows = [payment_values(merchant_id, 920_000_001 + i) for i in range(5)]
    rows[2] = replace(payment_values(merchant_id, 920_000_000), address=taken.address)  # its index is taken
    await insert_coalesced(pool, taken)
    results = await asyncio.gather(*(insert_coalesced(pool, row) for row in rows), return_exceptions=True)
    assert [r is None for r in results] == [True, True, False, True, True]
    assert "duplicate key" in str(results[2])
    good = [r.id for i, r in enumerate(rows) if i != 2]
    assert await _stored_ids(runtime, [r.id for r in rows]) == set(good)


async def test_with_the_database_unreachable_every_coalesced_insert_fails_promptly(migrated_pg_url):
    from ctrip_core.devnet.anvil import free_port

    unreachable = create_engine(migrated_pg_url.replace(":5432/", f":{free_port()}/"))
    pool = HotPool(unreachable, size=4)
    rows = [payment_values("mer_nobody", 930_000_000 + i) for i in range(5)]
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(insert_coalesced(pool, row) for row in rows), return_exceptions=True), 10)
    finally:
        await pool.close()
        await unreachable.dispose()
    assert all(isinstance(r, OSError) for r in results), results  # each request gets the error, none hangs
