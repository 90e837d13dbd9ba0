"""`create_app(runtime)`: the Quart app of the merchant API (CONTRACT §3). A factory, never import-time.

Layout: blueprints per resource under `api/blueprints/`, request/response models in
`api/schemas.py` (they feed /openapi.json), one error shape in `api/errors.py`, and the /v1
guard (content type, auth, rate limit) below.
"""

from __future__ import annotations

from quart import Blueprint, Quart, current_app, g, request
from quart_schema import QuartSchema
from quart_schema.openapi import OpenAPIProvider

from ctrip_core.api.auth import authenticate, require_scope
from ctrip_core.api.blueprints import (chains, checkout, dashboard, events, ops, payment_links, payments, payouts,
                                       reference, refunds, reports, webhook_endpoints)
from ctrip_core.api import docs, idempotency
from ctrip_core.api.errors import APIError, register_error_handlers
from ctrip_core.api.headers import single_header
from ctrip_core.api.key_cache import KeyCache
from ctrip_core.api.metrics import ApiMetrics
from ctrip_core.api.metrics_access import guard_metrics_port
from ctrip_core.api.ratelimit import MemoryRateLimiter, RateLimiter
from ctrip_core.api.request_log import register_request_logging
from ctrip_core.api.state import AppState
from ctrip_core.api.strict_json import StrictJSONProvider
from ctrip_core.api.webhook_docs import webhook_operations
from ctrip_core.runtime import Runtime

API_TITLE = "cTrip merchant API"
#: Routes answering text, which quart-schema (JSON responses only) would leave with no response at all.
TEXT_ROUTES = {"/metrics": "text/plain", "/docs": "text/html", "/docs/assets/redoc.standalone.js": "text/javascript",
               "/v1/reports/transactions.csv": "text/csv"}

class _OpenAPI(OpenAPIProvider):
    """Documents the 200 of the text routes, so every operation has a response (as OpenAPI requires)."""

    def build_paths(self, rule):
        paths, components = super().build_paths(rule)
        if rule.rule in TEXT_ROUTES:  # keeping the error responses a route documents (/metrics: 401, 404)
            for operation in paths[rule.rule].values():
                operation["responses"] = dict(operation.get("responses") or {}) | {
                    200: {"description": operation.get("summary", ""), "content": {
                        TEXT_ROUTES[rule.rule]: {"schema": {"type": "string"}}}}}
        # Routes declaring their text responses (the hosted checkout: HTML, SSE, CSS, JS).
        declared = getattr(self._app.view_functions[rule.endpoint], checkout.OPENAPI_TEXT_RESPONSES, None)
        for operations in paths.values() if declared else ():
            for operation in operations.values():
                operation["responses"] = dict(operation["responses"]) | {
                    status: {"description": description, "content": {content_type: {
                        "schema": schema[0] if schema else {"type": "string"}}}}
                    for status, (content_type, description, *schema) in declared.items()}
        view = self._app.view_functions[rule.endpoint]
        section = docs.TAGS[rule.endpoint.rsplit(".", 1)[0].rsplit(".", 1)[-1]][0]
        for operations in paths.values():
            for method, operation in operations.items():
                operations[method] = operation | {"tags": [section]}
        for operations in paths.values() if getattr(view, idempotency.HONOURS_KEY, False) else ():
            for operation in operations.values():
                operation["parameters"] = [*operation.get("parameters", []), dict(idempotency.OPENAPI_PARAMETER)]
                # The key reused with another body, or while its first request runs: 409, an ErrorResponse.
                operation["responses"] = {409: operation["responses"][400]} | dict(operation["responses"])
        return paths, components

    def build_path_parameter(self, name, converter) -> dict:
        description, example = docs.PATH_PARAMETERS[name]
        return super().build_path_parameter(name, converter) | {"description": description, "example": example}

    def schema(self) -> dict:
        sections = {name: {"name": name, "description": description} for name, description in docs.TAGS.values()}
        return super().schema() | {"tags": list(sections.values()), "webhooks": webhook_operations()}


async def _no_broker() -> str | None:
    return None


def _v1_blueprint() -> Blueprint:
    v1 = Blueprint("v1", __name__, url_prefix="/v1")

    @v1.before_request
    async def guard() -> None:
        # First: an unauthenticated caller learns nothing, not even about its body.
        decision = await authenticate()
        if request.endpoint is not None:  # None: no such route (404 follows), nothing to scope
            require_scope(current_app.view_functions[request.endpoint])
        if request.method in ("POST", "PUT", "PATCH"):
            _require_json()
        _reject_nul_ids()
        decision = decision or await _limiter().hit(g.key_id)
        if not decision.allowed:
            retry = max(1, int(decision.retry_after_s + 0.999))
            raise APIError(429, "rate_limited", "too many requests for this API key",
                           headers={"Retry-After": str(retry)})

    for module in (payments, refunds, payouts, reports, chains, events, webhook_endpoints):
        v1.register_blueprint(module.blueprint)
    return v1


def _limiter() -> RateLimiter:
    from ctrip_core.api.state import app_state

    return app_state().limiter


def _reject_nul_ids() -> None:
    """No object id holds NUL, and PostgreSQL would refuse to compare one: not found, not a 500."""
    if any("\x00" in str(value) for value in (request.view_args or {}).values()):
        raise APIError(404, "not_found", "no such object")


def _require_json() -> None:
    length = request.content_length or 0
    single_header("Content-Type")  # two would leave the body's type to whichever one is read
    mimetype = request.mimetype or ""
    if length == 0 and not mimetype:
        return  # bodyless POST such as /cancel
    if mimetype != "application/json":
        raise APIError(400, "unsupported_content_type", "request body must be application/json",
                       field="Content-Type")


def create_app(runtime: Runtime, *, limiter: RateLimiter | None = None, broker_check=None) -> Quart:
    """The API app over `runtime`; `limiter` defaults to in-memory buckets (Redis in `ctrip api`)."""
    app = Quart("ctrip_core.api", static_folder=None)  # no static files: no undocumented /static route
    app.config["MAX_CONTENT_LENGTH"] = runtime.settings.api.max_body_bytes
    app.config["BODY_TIMEOUT"] = runtime.settings.api.body_timeout_s  # then 408 (Quart's default: 60 s)
    app.config["QUART_SCHEMA_CONVERT_CASING"] = False
    api_settings = runtime.settings.api
    app.extensions["ctrip"] = AppState(
        runtime=runtime,
        limiter=limiter or MemoryRateLimiter(api_settings.rate_limit_per_s, api_settings.rate_limit_burst),
        metrics=ApiMetrics(), broker_check=broker_check or _no_broker, key_cache=KeyCache(api_settings.key_cache_s))
    QuartSchema(app, openapi_path="/openapi.json", swagger_ui_path=None, redoc_ui_path=None,
                scalar_ui_path=None, info={"title": API_TITLE, "version": "1", "description": docs.INTRO},
                security_schemes={"bearer": {"type": "http", "scheme": "bearer"}}, security=[{"bearer": []}],
                pydantic_dump_options={"by_alias": True}, openapi_provider_class=_OpenAPI)
    app.json = StrictJSONProvider(app, encoder=app.json)  # after QuartSchema, which installs its own
    register_error_handlers(app)
    register_request_logging(app)

    @app.before_request
    async def metrics_port_serves_metrics_only() -> None:
        guard_metrics_port(runtime.settings.metrics)

    app.register_blueprint(ops.blueprint)
    app.register_blueprint(reference.blueprint)  # /docs
    app.register_blueprint(dashboard.blueprint)  # /dashboard: a site, hidden from /openapi.json
    app.register_blueprint(checkout.blueprint)  # /pay: public, outside the /v1 guard
    app.register_blueprint(payment_links.blueprint)  # /pay/links/{id}: public, each visit makes a payment
    app.register_blueprint(_v1_blueprint())
    return app
