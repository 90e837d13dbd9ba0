"""The schema keeps its promises on both databases: money exact to 2**256 - 1, UTC timestamps,
a transfer counted once, foreign keys enforced, derivation indexes never handed out twice."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from ctrip_core.db import migrate
from ctrip_core.db.allocation import BLOCK
from ctrip_core.db.engine import create_engine, session_factory
from ctrip_core.db.models import (
    NATIVE_LOG_INDEX,
    ApiKey,
    DepositAddress,
    Merchant,
    Payment,
    Sweep,
    Transfer,
)
from ctrip_core.db.payment_writer import PaymentWriter, payment_writer_for
from ctrip_core.db.types import MAX_BASE_UNITS, check_base_units
from testbed import create_database, drop_database



@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request, tmp_path):
    """A migrated database of each kind; the PostgreSQL one is dropped afterwards."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'ctrip.db'}"
        migrate.upgrade(url)
        yield url
        return
    url = create_database()
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
async def engine(db_url):
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine):
    return session_factory(engine)


@pytest.fixture
async def writers(engine):
    """`writers()` → the database's payment writer, as a process of its own would have it (closed after)."""
    made: list[PaymentWriter] = []

    def make(index_block: int = BLOCK) -> PaymentWriter:
        made.append(payment_writer_for(engine, index_block=index_block))
        return made[-1]

    yield make
    for writer in made:
        await writer.close()


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def a_sweep(amount: int, **fields) -> Sweep:
    return Sweep(
        id=new_id("swp"),
        chain="anvil",
        kind="native",
        from_address="0x" + "11" * 20,
        to_address="0x" + "22" * 20,
        amount_base_units=amount,
        **fields,
    )


def a_transfer(tx_hash: str, log_index: int) -> Transfer:
    return Transfer(
        chain="anvil",
        tx_hash=tx_hash,
        log_index=log_index,
        block_number=7,
        block_hash="0x" + "ab" * 32,
        from_address="0x" + "11" * 20,
        to_address="0x" + "22" * 20,
        asset="ETH",
        amount_base_units=10**18,
    )


async def a_payment(session, writer: PaymentWriter, **fields) -> Payment:
    """A merchant, a deposit address (its index from the payment writer) and a payment to it, flushed."""
    merchant = Merchant(id=new_id("mer"), name="Shop")
    index = await writer.next_index(session)
    deposit = DepositAddress(derivation_index=index, address="0x" + f"{index:040x}")
    session.add_all([merchant, deposit])
    await session.flush()
    payment = Payment(
        id=new_id("pay"),
        merchant_id=merchant.id,
        chain="anvil",
        chain_id=31337,
        asset="ETH",
        decimals=18,
        amount_base_units=fields.pop("amount_base_units", 10**18),
        derivation_index=index,
        address=deposit.address,
        confirmations_required=1,
        expires_at=datetime.now(UTC) + timedelta(minutes=30),
        **fields,
    )
    session.add(payment)
    await session.flush()
    return payment


# --- BaseUnits -------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, 1, 2**64 + 1, MAX_BASE_UNITS])
async def test_base_units_round_trip_exactly(sessions, amount):
    sweep = a_sweep(amount, gas_price=amount)
    async with sessions.begin() as session:
        session.add(sweep)
    async with sessions() as session:
        loaded = await session.get(Sweep, sweep.id)
        assert loaded.amount_base_units == amount
        assert type(loaded.amount_base_units) is int
        assert loaded.gas_price == amount


async def test_base_units_compare_as_numbers_in_sql(sessions):
    """Ordering and comparisons happen in SQL; on SQLite they work only thanks to zero padding."""
    amounts = [MAX_BASE_UNITS, 9, 10, 2**200, 0]
    async with sessions.begin() as session:
        session.add_all([a_sweep(amount) for amount in amounts])
    async with sessions() as session:
        ordered = (await session.scalars(select(Sweep.amount_base_units).order_by(
            Sweep.amount_base_units))).all()
        above_nine = (await session.scalars(select(Sweep.amount_base_units).where(
            Sweep.amount_base_units > 9))).all()
    assert ordered == sorted(amounts)
    assert sorted(above_nine) == [10, 2**200, MAX_BASE_UNITS]


async def test_payment_defaults(sessions, writers):
    async with sessions.begin() as session:
        payment = await a_payment(session, writers(), metadata_={"order": "A-1", "n": 2})
    async with sessions() as session:
        loaded = await session.get(Payment, payment.id)
    assert loaded.amount_received_base_units == 0
    assert loaded.status == "pending"
    assert (loaded.overpaid, loaded.late) == (False, False)
    assert loaded.metadata_ == {"order": "A-1", "n": 2}


@pytest.mark.parametrize("bad", [1.0, 1.5, True, "12"])
async def test_base_units_refuse_non_int(sessions, bad):
    async with sessions() as session:
        session.add(a_sweep(bad))
        with pytest.raises(StatementError) as raised:
            await session.flush()
    assert isinstance(raised.value.orig, TypeError)


@pytest.mark.parametrize("bad, error", [
    (1.0, TypeError), (False, TypeError), (-1, ValueError), (MAX_BASE_UNITS + 1, ValueError)])
def test_check_base_units_rejects(bad, error):
    with pytest.raises(error):
        check_base_units(bad)


# --- UTCDateTime -----------------------------------------------------------------------------


async def test_datetimes_come_back_in_utc(sessions, writers):
    plus_two = timezone(timedelta(hours=2))
    expires = datetime(2030, 1, 2, 14, 0, 0, 123456, tzinfo=plus_two)
    async with sessions.begin() as session:
        payment = await a_payment(session, writers())
        payment.expires_at = expires
    async with sessions() as session:
        loaded = await session.get(Payment, payment.id)
    assert loaded.expires_at == expires
    assert loaded.expires_at.utcoffset() == timedelta(0)
    assert loaded.expires_at.hour == 12


async def test_naive_datetime_refused(sessions):
    async with sessions() as session:
        session.add(a_sweep(1, submitted_at=datetime(2030, 1, 1)))
        with pytest.raises(StatementError) as raised:
            await session.flush()
    assert isinstance(raised.value.orig, ValueError)


# --- constraints -----------------------------------------------------------------------------


@pytest.mark.parametrize("log_index", [NATIVE_LOG_INDEX, 0, 5])
async def test_transfer_counted_once(sessions, log_index):
    tx_hash = "0x" + uuid.uuid4().hex * 2
    async with sessions.begin() as session:
        session.add(a_transfer(tx_hash, log_index))
    async with sessions() as session:
        session.add(a_transfer(tx_hash, log_index))
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_same_transaction_other_log_index_is_another_transfer(sessions):
    tx_hash = "0x" + uuid.uuid4().hex * 2
    async with sessions.begin() as session:
        session.add_all([a_transfer(tx_hash, NATIVE_LOG_INDEX), a_transfer(tx_hash, 0),
                         a_transfer(tx_hash, 1)])
    async with sessions() as session:
        count = len((await session.scalars(select(Transfer).where(
            Transfer.tx_hash == tx_hash))).all())
    assert count == 3


async def test_status_outside_allowed_values_refused(sessions, writers):
    async with sessions() as session:
        with pytest.raises(IntegrityError):
            await a_payment(session, writers(), status="paid")  # not a status: the CHECK constraint refuses it


async def test_foreign_keys_enforced_and_cascade(sessions):
    """SQLite enforces foreign keys only with the pragma the engine sets on every connection."""
    async with sessions() as session:
        session.add(ApiKey(id=new_id("key"), merchant_id="mer_missing", key_hash="0" * 64,
                           key_prefix="sk_test"))
        with pytest.raises(IntegrityError):
            await session.commit()

    merchant = Merchant(id=new_id("mer"), name="Shop")
    async with sessions.begin() as session:
        session.add(merchant)
        await session.flush()
        session.add(ApiKey(id=new_id("key"), merchant_id=merchant.id, key_hash="1" * 64,
                           key_prefix="sk_test"))
    async with sessions.begin() as session:
        await session.execute(delete(Merchant).where(Merchant.id == merchant.id))
    async with sessions() as session:
        keys = (await session.scalars(select(ApiKey).where(ApiKey.merchant_id == merchant.id))).all()
    assert keys == []


# --- derivation indexes ----------------------------------------------------------------------


async def test_derivation_indexes_distinct_under_concurrency(sessions, writers):
    writer = writers()

    async def allocate() -> int:
        async with sessions.begin() as session:
            index = await writer.next_index(session)
            await asyncio.sleep(0)  # hold the transaction open across a task switch
            return index

    indexes = await asyncio.gather(*(allocate() for _ in range(50)))
    assert len(set(indexes)) == 50
    assert min(indexes) >= 1


async def test_derivation_indexes_start_at_one_and_grow(sessions, writers):
    writer = writers()
    async with sessions.begin() as session:
        first = await writer.next_index(session)
        second = await writer.next_index(session)
    assert (first, second) == (1, 2)


async def test_index_blocks_of_two_processes_never_overlap(sessions, writers):
    """Two processes (two writers, two IndexBlocks) drawing concurrently, across several refills: all distinct."""
    processes = [writers(index_block=7), writers(index_block=7)]

    async def allocate(writer: PaymentWriter) -> int:
        async with sessions.begin() as session:
            index = await writer.next_index(session)
            await asyncio.sleep(0)
            return index

    indexes = await asyncio.gather(*(allocate(processes[i % 2]) for i in range(60)))
    assert len(set(indexes)) == 60 and min(indexes) >= 1


async def test_index_blocks_cost_one_round_trip_per_block_on_postgresql(sessions, writers, db_url):
    """On PostgreSQL a block is one draw of the sequence; a restarted process skips what its predecessor
    had reserved (never reuses it). SQLite keeps handing out 1, 2, 3, ... from the caller's transaction."""
    writer = writers(index_block=5)
    async with sessions.begin() as session:
        first_five = [await writer.next_index(session) for _ in range(5)]
        sixth = await writer.next_index(session)
        if db_url.startswith("postgresql"):
            conn = await session.connection()
            drawn = (await conn.execute(text("SELECT last_value FROM deposit_address_index_seq"))).scalar_one()
            assert (first_five, sixth, drawn) == ([1, 2, 3, 4, 5], 6, 10)  # the second block, 6..10, at once
    restarted = writers(index_block=5)
    async with sessions.begin() as session:
        after_restart = await restarted.next_index(session)
    if db_url.startswith("sqlite"):
        assert first_five + [sixth, after_restart] == [1, 2, 3, 4, 5, 6, 7]
        return
    assert after_restart == 11  # 7..10 stay unused: never handed out twice
