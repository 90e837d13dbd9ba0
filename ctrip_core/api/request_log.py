"""Per request: an id (X-Request-Id, echoed or generated), metrics, and one JSON access-log line."""

from __future__ import annotations

import logging
import re
import time
import uuid

from quart import Quart, g, request

from ctrip_core.api.client_address import request_client
from ctrip_core.api.state import app_state
from ctrip_core.logs import request_id_var

log = logging.getLogger("ctrip.access")
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


def register_request_logging(app: Quart) -> None:
    @app.before_request
    async def start() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if _SAFE_ID.fullmatch(incoming) else "req_" + uuid.uuid4().hex[:20]
        g.started = time.perf_counter()
        request_id_var.set(g.request_id)

    @app.after_request
    async def finish(response):
        request_id = getattr(g, "request_id", None) or "req_" + uuid.uuid4().hex[:20]
        response.headers["X-Request-Id"] = request_id
        elapsed = time.perf_counter() - getattr(g, "started", time.perf_counter())
        app_state().metrics.observe(request.method, _route(), response.status_code, elapsed)
        log.info("request", extra={"fields": {"method": request.method, "route": _route(),
                                              "status": response.status_code,
                                              "ms": round(elapsed * 1000, 2), "request_id": request_id,
                                              "client": request_client()}})
        return response
