"""The payment writer on both databases: the engine picks it (PostgreSQL's fast path, or the
session-based one), and either way a create without a session commits on its own, while one
within a session lands or vanishes with that session's transaction, address and payment together;
its reads (the API key check) run on their own."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import bindparam, func, select

from ctrip_core.db import migrate
from ctrip_core.db.engine import create_engine, session_factory
from ctrip_core.db.hot_statements import HotStatement
from ctrip_core.db.models import DepositAddress, Merchant, Payment
from ctrip_core.db.payment_insert import NewPayment
from ctrip_core.db.payment_writer import PostgresPaymentWriter, SessionPaymentWriter, payment_writer_for

PG_ADMIN_DSN = os.environ.get("CTRIP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request, tmp_path):
    """An engine on a migrated database of each kind; the PostgreSQL one is dropped afterwards."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'ctrip.db'}"
        migrate.upgrade(url)
        engine = create_engine(url)
        yield engine
        await engine.dispose()
        return
    name = f"ctrip_writertest_{uuid.uuid4().hex[:10]}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        migrate.upgrade(url)
        engine = create_engine(url)
        yield engine
        await engine.dispose()
    finally:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def writer(engine):
    writer = payment_writer_for(engine)
    yield writer
    await writer.close()


@pytest.fixture
async def merchant_id(engine) -> str:
    merchant = Merchant(id=f"mer_{uuid.uuid4().hex}", name="Shop")
    async with session_factory(engine).begin() as session:
        session.add(merchant)
    return merchant.id


def payment_at(merchant_id: str):
    def make(index: int) -> NewPayment:
        now = datetime.now(UTC).replace(microsecond=0)
        return NewPayment(id=f"pay_{uuid.uuid4().hex}", merchant_id=merchant_id, status="pending", chain="anvil",
                          chain_id=31337, asset="ETH", token_address=None, decimals=18, amount_base_units=10**18,
                          amount_received_base_units=0, derivation_index=index, address="0x" + f"{index:040x}",
                          order_id=None, metadata_={}, confirmations_required=1, overpaid=False, late=False,
                          redirect_url=None, price_base_units=None, price_currency=None, rate_value=None,
                          rate_source=None, rate_at=None, tolerance_base_units=0, options=None, created_at=now,
                          updated_at=now, expires_at=now + timedelta(hours=1),
                          detected_at=None, confirmed_at=None)
    return make


async def stored(engine, payment_id: str) -> tuple[int, int]:
    """(payments, deposit addresses) rows of this payment."""
    async with session_factory(engine)() as session:
        payment = await session.get(Payment, payment_id)
        addresses = await session.scalar(select(func.count()).select_from(DepositAddress)
                                         .join(Payment, Payment.derivation_index == DepositAddress.derivation_index)
                                         .where(Payment.id == payment_id))
    return (0 if payment is None else 1), addresses


def test_the_engine_picks_the_writer(engine, writer):
    expected = PostgresPaymentWriter if engine.dialect.name == "postgresql" else SessionPaymentWriter
    assert type(writer) is expected


async def test_a_create_without_a_session_commits_on_its_own(engine, writer, merchant_id):
    payment = await writer.create(payment_at(merchant_id))
    assert payment.derivation_index >= 1
    assert await stored(engine, payment.id) == (1, 1)


async def test_a_create_within_a_session_lands_with_its_commit(engine, writer, merchant_id):
    async with session_factory(engine).begin() as session:
        payment = await writer.create(payment_at(merchant_id), within=session)
    assert await stored(engine, payment.id) == (1, 1)


async def test_a_create_within_a_session_vanishes_with_its_rollback(engine, writer, merchant_id):
    async with session_factory(engine)() as session:
        await session.begin()
        payment = await writer.create(payment_at(merchant_id), within=session)
        await session.rollback()
    assert await stored(engine, payment.id) == (0, 0)


async def test_a_read_runs_on_its_own_outside_any_transaction(writer, engine, merchant_id):
    merchant_of = HotStatement(select(Merchant.name).where(Merchant.id == bindparam("id")))
    assert await writer.read(merchant_of, {"id": merchant_id}) == ("Shop",)
    assert await writer.read(merchant_of, {"id": "mer_nobody"}) is None


async def test_indexes_are_never_handed_out_twice_across_both_paths(writer, engine, merchant_id):
    async with session_factory(engine).begin() as session:
        within = [(await writer.create(payment_at(merchant_id), within=session)).derivation_index for _ in range(3)]
    alone = [(await writer.create(payment_at(merchant_id))).derivation_index for _ in range(3)]
    assert len(set(within + alone)) == 6
