"""HotStatement on real PostgreSQL: the driver path gives what SQLAlchemy's path gives (bind
processors applied: money, JSON, timestamps), runs only on autocommit connections, and a connection
the server killed is thrown out of the pool rather than handed to the next request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, select, text

from ctrip_core.db.engine import create_engine
from ctrip_core.db.hot_statements import HotStatement
from ctrip_core.db.models import Payment
from ctrip_core.db.payment_insert import insert_payment
from ctrip_core.ids import new_id
from ctrip_core.services.merchants import create_merchant, merchant_for_key

BACKEND_PID = HotStatement(select(text("pg_backend_pid()")))
ECHO = HotStatement(select(bindparam("value", type_=Payment.__table__.c.amount_base_units.type)))


@pytest.fixture
async def engines(migrated_pg_url):
    engine = create_engine(migrated_pg_url, pool_size=1, max_overflow=0)
    yield engine, engine.execution_options(isolation_level="AUTOCOMMIT")
    await engine.dispose()


def payment_values(merchant_id: str, index: int) -> dict:
    now = datetime.now(UTC).replace(microsecond=0)
    return dict(id=new_id("pay"), merchant_id=merchant_id, status="pending", chain="anvil", chain_id=31337,
                asset="ETH", token_address=None, decimals=18, amount_base_units=2**255 + 7,
                amount_received_base_units=0, derivation_index=index, address="0x" + f"{index:040x}",
                order_id="o-1", metadata_={"k": "v ü"}, confirmations_required=2, overpaid=False, late=False,
                redirect_url=None, created_at=now, updated_at=now, expires_at=now + timedelta(hours=1),
                detected_at=None, confirmed_at=None)


async def test_driver_path_and_sqlalchemy_path_agree(engines):
    engine, autocommit = engines
    async with autocommit.connect() as fast:
        by_driver = await ECHO.scalar(fast, {"value": 10**70})
    async with engine.connect() as ordinary:  # in a transaction: SQLAlchemy's own execute
        by_sqlalchemy = await ECHO.scalar(ordinary, {"value": 10**70})
    assert by_driver == by_sqlalchemy and int(by_driver) == 10**70


async def test_an_inserted_payment_reads_back_exactly_through_the_orm(engines, runtime):
    engine, autocommit = engines
    async with runtime.sessions() as session, session.begin():
        merchant = await create_merchant(session, "hot")
    values = payment_values(merchant.merchant_id, 900_000_001)
    async with autocommit.connect() as conn:
        await insert_payment(conn, values)  # the driver path: one CTE
        assert await merchant_for_key(conn, merchant.api_key) == merchant.merchant_id
        assert await merchant_for_key(conn, merchant.api_key + "x") is None
    async with runtime.sessions() as session:
        stored = await session.get(Payment, values["id"])
    assert {key: getattr(stored, key) for key in values} == values


async def test_a_killed_connection_leaves_the_pool(engines, migrated_pg_url):
    _, autocommit = engines
    async with autocommit.connect() as conn:
        victim = await BACKEND_PID.scalar(conn)
    async with autocommit.connect() as killer_side:  # the pool's only connection: the same backend
        assert await BACKEND_PID.scalar(killer_side) == victim
    admin = create_engine(migrated_pg_url, pool_size=1, max_overflow=0).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
    finally:
        await admin.dispose()
    with pytest.raises(Exception):  # noqa: B017 - whichever error the driver raises for a dead link
        async with autocommit.connect() as conn:
            await BACKEND_PID.scalar(conn)
    async with autocommit.connect() as conn:  # a fresh connection, not the dead one again
        assert await BACKEND_PID.scalar(conn) != victim
