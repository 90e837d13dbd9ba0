"""The database layer: schema (models), column types, engines and sessions, migrations.

PostgreSQL in production, SQLite for the embedded default; the same models and migrations serve
both. The schema changes only through Alembic (`ctrip db upgrade`, or `ctrip_core.db.migrate`).
"""

from ctrip_core.db.engine import create_engine, session_factory
from ctrip_core.db.models import NATIVE_LOG_INDEX, Base

__all__ = ["NATIVE_LOG_INDEX", "Base", "create_engine", "session_factory"]
