"""The Alembic migrations build exactly the schema the models describe, on PostgreSQL and SQLite,
and can be undone and redone; ctrip_core.db.migrate works with and without a running event loop."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from ctrip_core.db import migrate
from ctrip_core.db.engine import create_engine
from ctrip_core.db.models import DERIVATION_COUNTER, Base
from testbed import create_database, drop_database

TABLES = set(Base.metadata.tables)


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_db_url(request, tmp_path):
    """An empty database of each kind: an SQLite file in a folder not yet created, or a fresh
    PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'not-yet' / 'ctrip.db'}"
        return
    url = create_database(migrated=False)
    try:
        yield url
    finally:
        drop_database(url)


async def inspect_db(url: str, look):
    """Run look(sync_connection) against url and return its result."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(look)
    finally:
        await engine.dispose()


def app_tables(connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


def has_sequence(connection) -> bool:
    return "deposit_address_index_seq" in inspect(connection).get_sequence_names()


async def test_upgrade_downgrade_upgrade(empty_db_url):
    assert migrate.current(empty_db_url) is None

    migrate.upgrade(empty_db_url)  # called inside the running test loop: goes through a thread
    assert migrate.current(empty_db_url) == migrate.head()
    assert await inspect_db(empty_db_url, app_tables) == TABLES

    migrate.downgrade(empty_db_url, "base")
    assert migrate.current(empty_db_url) is None
    assert await inspect_db(empty_db_url, app_tables) == set()

    migrate.upgrade(empty_db_url)
    assert migrate.current(empty_db_url) == migrate.head()
    assert await inspect_db(empty_db_url, app_tables) == TABLES


def test_migrate_without_event_loop(tmp_path):
    """The plain synchronous path, as `ctrip db upgrade` calls it."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'ctrip.db'}"
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head()
    migrate.downgrade(url, "base")
    assert migrate.current(url) is None


async def test_models_match_migration(empty_db_url):
    migrate.upgrade(empty_db_url)

    def diff(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    assert await inspect_db(empty_db_url, diff) == []


async def test_derivation_index_source_is_created_and_dropped(empty_db_url):
    """PostgreSQL gets the sequence; SQLite gets the counter row starting at 1; downgrade removes them."""
    migrate.upgrade(empty_db_url)
    if empty_db_url.startswith("postgresql"):
        assert await inspect_db(empty_db_url, has_sequence)
        migrate.downgrade(empty_db_url, "base")
        assert not await inspect_db(empty_db_url, has_sequence)
        return

    def counter(connection):
        query = text("SELECT next_value FROM allocation_counters WHERE name = :name")
        return connection.execute(query, {"name": DERIVATION_COUNTER}).scalar_one()

    assert await inspect_db(empty_db_url, counter) == 1


async def test_sqlite_money_columns_are_text(tmp_path):
    """SQLite's NUMERIC affinity would store 2**256 - 1 as a lossy REAL; the column must be text."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'ctrip.db'}"
    migrate.upgrade(url)

    def money_type(connection):
        columns = inspect(connection).get_columns("payments")
        return next(str(c["type"]) for c in columns if c["name"] == "amount_base_units")

    assert await inspect_db(url, money_type) == "VARCHAR(78)"


BATCH_MIGRATION = '''
import sqlalchemy as sa
from alembic import op

revision = "test_batch"
down_revision = "HEAD"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("merchants", recreate="always") as batch:  # rebuild, not ALTER
        batch.add_column(sa.Column("extra", sa.Integer, nullable=True))
    FAIL
'''


def scripts_with_0002(tmp_path, fail: bool) -> str:
    """A copy of the repo's migration scripts plus one more that rebuilds the merchants table."""
    scripts = tmp_path / "alembic"
    shutil.copytree(migrate.REPO_ROOT / "alembic", scripts,
                    ignore=shutil.ignore_patterns("__pycache__"))
    body = BATCH_MIGRATION.replace("FAIL", 'raise RuntimeError("boom")' if fail else "")
    body = body.replace('"HEAD"', repr(migrate.head()))
    (scripts / "versions" / "test_batch.py").write_text(body)
    return str(scripts)


async def seed_merchant_with_key(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(
                "INSERT INTO merchants VALUES ('mer_1', 'Shop', '2024-01-01 00:00:00.000000')"))
            await connection.execute(text(
                "INSERT INTO api_keys (id, merchant_id, key_hash, key_prefix, created_at, revoked_at) "
                "VALUES ('key_1', 'mer_1', :hash, 'sk_', '2024-01-01 00:00:00.000000', NULL)"), {"hash": "a" * 64})
    finally:
        await engine.dispose()


def count_api_keys(connection) -> int:
    return connection.execute(text("SELECT count(*) FROM api_keys")).scalar_one()


def merchant_columns(connection) -> set[str]:
    return {c["name"] for c in inspect(connection).get_columns("merchants")}


async def test_sqlite_batch_migration_keeps_referencing_rows(tmp_path):
    """Rebuilding a referenced table must not cascade: migrations run with foreign keys off."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'ctrip.db'}"
    migrate.upgrade(url)
    await seed_merchant_with_key(url)
    config = migrate.alembic_config(url)
    config.set_main_option("script_location", scripts_with_0002(tmp_path, fail=False))

    await asyncio.to_thread(command.upgrade, config, "test_batch")

    assert "extra" in await inspect_db(url, merchant_columns)
    assert await inspect_db(url, count_api_keys) == 1


async def test_sqlite_failed_migration_leaves_nothing_behind(tmp_path):
    """SQLite migrations are one transaction: a failure rolls the DDL back too."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'ctrip.db'}"
    migrate.upgrade(url)
    config = migrate.alembic_config(url)
    config.set_main_option("script_location", scripts_with_0002(tmp_path, fail=True))

    with pytest.raises(RuntimeError, match="boom"):
        await asyncio.to_thread(command.upgrade, config, "test_batch")

    assert migrate.current(url) == migrate.head()
    assert "extra" not in await inspect_db(url, merchant_columns)
