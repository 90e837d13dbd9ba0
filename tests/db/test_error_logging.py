"""Database errors never carry bound values into logs: the engine hides SQLAlchemy's
`[parameters: ...]` and the JSON log formatter reduces a driver's message (asyncpg quotes the
offending value in a DataError) to its type, SQLSTATE and parameter-free SQL."""

from __future__ import annotations

import logging
import sys

import pytest
from sqlalchemy import text

from ctrip_core.db.engine import create_engine
from ctrip_core.logs import JsonFormatter

MARKER = "whsec_markerNotForLogs"


def logged(exc: BaseException) -> str:
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "unhandled error", None,
                               (type(exc), exc, exc.__traceback__))
    return JsonFormatter().format(record)


async def failure(engine, statement: str) -> BaseException:
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement), {"v": MARKER})
    except Exception as exc:  # noqa: BLE001 - the error under test
        return exc
    finally:
        await engine.dispose()
    pytest.fail("the statement should have failed")


async def test_sqlite_error_is_logged_without_its_parameters(tmp_path):
    exc = await failure(create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"),
                        "INSERT INTO no_such_table (v) VALUES (:v)")
    assert MARKER not in str(exc)
    line = logged(exc)
    assert MARKER not in line
    assert "OperationalError" in line and "no_such_table" in line  # still says what failed


async def test_postgres_error_quoting_the_value_is_logged_without_it(migrated_pg_url):
    exc = await failure(create_engine(migrated_pg_url), "SELECT CAST(:v AS integer) + 1 AS n WHERE 1 = CAST(:v AS integer)")
    line = logged(exc)
    assert MARKER not in line
    assert "DBAPIError" in line or "DataError" in line
