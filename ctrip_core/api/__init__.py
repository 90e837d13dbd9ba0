"""The merchant HTTP API: `create_app(runtime)` builds it; `ctrip api` serves it under Hypercorn."""

from ctrip_core.api.app import create_app

__all__ = ["create_app"]
