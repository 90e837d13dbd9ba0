"""Alembic environment: runs cTrip's migrations on an async engine (asyncpg or aiosqlite).

The URL comes from the caller (``config.attributes["database_url"]``, set by
ctrip_core.db.migrate), else ``sqlalchemy.url`` in alembic.ini, else ``CTRIP_DATABASE_URL``.
Passing it through attributes avoids configparser's %-interpolation mangling passwords.
Batch mode is on so later migrations can alter SQLite tables (by recreating them).
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from sqlalchemy import event, pool, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from alembic import context
from ctrip_core.db.engine import create_engine
from ctrip_core.db.models import Base
from ctrip_core.db.types import BaseUnits, UTCDateTime

config = context.config
target_metadata = Base.metadata


def database_url() -> str | URL:
    """The URL to migrate; a clear error instead of Alembic's when none is given.

    A URL object is passed through as is: str() of it would mask the password.
    """
    url = (
        config.attributes.get("database_url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("CTRIP_DATABASE_URL")
    )
    if not url:
        raise RuntimeError("no database URL: set CTRIP_DATABASE_URL or pass one to ctrip db")
    return url


def configure_logging() -> None:
    """Use alembic.ini's logging from the alembic CLI only: a host process keeps its own loggers."""
    if config.config_file_name is not None and not config.attributes.get("keep_logging"):
        fileConfig(config.config_file_name, disable_existing_loggers=False)


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Autogenerate our column types as the plain types they create, so migrations don't import
    ctrip_core and keep meaning the same schema if the application's types change."""
    if type_ == "type" and isinstance(obj, BaseUnits):
        return 'sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")'
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


MIGRATION_OPTIONS = {
    "target_metadata": target_metadata,
    "render_as_batch": True,
    "compare_type": True,
    "render_item": render_item,
}


def run_migrations_offline() -> None:
    """Emit the SQL instead of running it (`alembic upgrade head --sql`)."""
    context.configure(
        url=database_url(),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **MIGRATION_OPTIONS,
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    # SQLite's DDL is transactional once we open the transactions ourselves (see below).
    context.configure(connection=connection, transactional_ddl=sqlite or None, **MIGRATION_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        check_sqlite_foreign_keys(connection)


def check_sqlite_foreign_keys(connection: Connection) -> None:
    """Fail loudly if a migration left dangling references: SQLite migrates with enforcement off."""
    dangling = connection.execute(text("PRAGMA foreign_key_check")).fetchall()
    if dangling:
        raise RuntimeError(f"migration left rows violating foreign keys: {dangling[:10]}")


def begin_sqlite_explicitly(engine: AsyncEngine) -> None:
    """Make each SQLite migration run all-or-nothing.

    The sqlite3 driver opens a transaction only before INSERT/UPDATE/DELETE, so DDL before the
    first of those commits on its own and a failing migration would leave a half-migrated file.
    Switching the driver to autocommit and emitting BEGIN ourselves puts everything in one
    transaction (SQLAlchemy's documented recipe for pysqlite).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def driver_autocommit(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")


async def run_async_migrations() -> None:
    # Foreign keys off on SQLite: batch mode drops and recreates tables, which must not cascade.
    engine = create_engine(database_url(), foreign_keys=False, poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        begin_sqlite_explicitly(engine)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    asyncio.run(run_async_migrations())


configure_logging()
if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
