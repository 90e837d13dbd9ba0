"""Who may read `/metrics`: never the public on the API's port (docs/operations.md, "Metrics").

- `metrics.port` set: `ctrip api` also listens on `metrics.host:metrics.port`; a request that
  arrived there (the ASGI scope's server port) may read `/metrics` and `/health`, nothing else.
- `metrics.token` set: `/metrics` answers to `Authorization: Bearer <token>` only, on any port.
- Neither: `/metrics` is 404 everywhere, as if it did not exist (the default).
"""

from __future__ import annotations

import hmac

from quart import request

from ctrip_core.api.errors import APIError
from ctrip_core.config import ConfigError
from ctrip_core.config.settings import MetricsSettings

#: What the metrics port serves; anything else there is 404, so the API is not reachable through it.
METRICS_PORT_PATHS = frozenset({"/metrics", "/health"})


def metrics_bind(settings: MetricsSettings, api_bind: str) -> str | None:
    """The Hypercorn bind of the metrics listener (`host:port`, IPv6 in brackets), or None.

    A metrics port equal to the API's (`api_bind`, `host:port`) would make the API answer 404 to
    everything but /metrics: a configuration error.
    """
    if settings.port is None:
        return None
    api_port = api_bind.rsplit(":", 1)[-1]
    if api_port.isdigit() and int(api_port) == settings.port:
        raise ConfigError("metrics.port", f"{settings.port} is also the API's port ({api_bind}); choose another")
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"{host}:{settings.port}"


def on_metrics_port(settings: MetricsSettings) -> bool:
    server = request.scope.get("server")
    return settings.port is not None and bool(server) and server[1] == settings.port


def guard_metrics_port(settings: MetricsSettings) -> None:
    """Before every request: the metrics port serves METRICS_PORT_PATHS only."""
    if on_metrics_port(settings) and request.path not in METRICS_PORT_PATHS:
        raise APIError(404, "not_found", "no such route")


def require_metrics_access(settings: MetricsSettings) -> None:
    """Raise unless this request may read /metrics (404 where it is not served, 401 without the token)."""
    if settings.token is None:
        if not on_metrics_port(settings):
            raise APIError(404, "not_found", "no such route")
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    expected = settings.token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise APIError(401, "unauthorized", "/metrics needs Authorization: Bearer <metrics.token>",
                       headers={"WWW-Authenticate": "Bearer"})
