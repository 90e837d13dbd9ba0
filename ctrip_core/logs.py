"""Structured JSON logs, one object per line, with the request id when there is one.

Configured explicitly by the process entry points (`ctrip api`, `ctrip worker`, `ctrip dev`),
never at import time. Nothing secret is logged: API keys, mnemonics and webhook secrets never
reach a log call, and exceptions are logged by type and message only where they might carry data.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
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


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for chatty in ("httpx", "httpcore", "hpack"):  # one line per JSON-RPC call otherwise
        logging.getLogger(chatty).setLevel(logging.WARNING)
