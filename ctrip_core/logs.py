"""Structured JSON logs, one object per line, with the request id when there is one.

Configured explicitly by the process entry points (`ctrip api`, `ctrip worker`, `ctrip dev`),
never at import time. Nothing secret is logged: API keys, mnemonics and webhook secrets never
reach a log call, and exceptions are logged by type and message only where they might carry data.
A database error is logged by type, SQLSTATE and statement only: the engine hides bound parameters,
and drivers quote values in their own messages (asyncpg: "invalid input for query argument $1: ...").
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import traceback
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("ctrip_request_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name, "pid": record.process, "msg": record.getMessage()}
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)

    def formatException(self, ei) -> str:  # noqa: N802 - logging's name
        """The traceback, with each database error's message replaced by what cannot hold data."""
        exc = ei[1]
        if exc is None:
            return super().formatException(ei)
        chain: list[BaseException] = []
        while exc is not None and exc not in chain:
            chain.append(exc)
            exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        lines: list[str] = []
        for exc in reversed(chain):
            if lines:
                lines.append("\nThe above exception led to:\n")
            lines.append("Traceback (most recent call last):\n")
            lines.extend(traceback.format_tb(exc.__traceback__))
            lines.append(f"{type(exc).__module__}.{type(exc).__qualname__}: {_message(exc)}")
        return "".join(lines)


#: Modules whose exceptions may quote bound values in their message.
_DATABASE_MODULES = ("sqlalchemy", "asyncpg", "sqlite3", "aiosqlite", "psycopg")


def _message(exc: BaseException) -> str:
    if type(exc).__module__.split(".")[0] not in _DATABASE_MODULES:
        return str(exc)
    orig = getattr(exc, "orig", None) or exc
    parts = [f"sqlstate={code}" for code in [getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)] if code]
    statement = getattr(exc, "statement", None)
    if statement:
        parts.append(f"statement={' '.join(str(statement).split())[:500]}")
    if type(orig).__module__.split(".")[0] in ("sqlite3", "aiosqlite"):
        parts.append(str(orig))  # sqlite's messages name tables and columns, never values
    return "; ".join(parts) or "(message withheld: database errors may quote bound values)"


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for chatty in ("httpx", "httpcore", "hpack"):  # one line per JSON-RPC call otherwise
        logging.getLogger(chatty).setLevel(logging.WARNING)


def one_line(exc: BaseException) -> str:
    """A failure as one line; database errors lose their SQL and parameters (they may hold data)."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"
