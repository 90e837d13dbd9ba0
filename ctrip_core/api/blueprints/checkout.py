"""The hosted checkout routes: `GET /pay/{id}` and its live status, unauthenticated.

- `/pay/{id}`: the page, server-rendered (Jinja), complete without JavaScript; checkout.js adds
  the live status, the countdown, the copy button and the browser-wallet button.
- `/pay/{id}/events`: server-sent events, one `status` event per change (the database is polled
  every `api.checkout_poll_s`), ending once the payment is final or after `api.checkout_stream_max_s`;
  the browser's EventSource then reconnects on its own.
- `/pay/{id}/status`: the same status as JSON, for polling when EventSource is unavailable.
- `/pay/assets/checkout.{css,js}`: the page's only assets (package data under api/static; no CDN,
  no build step). The templates are the app's, under api/templates/checkout.

Every response under /pay carries a strict Content-Security-Policy; unknown or malformed ids answer
the same plain 404 page, before any database query when the id cannot be one. Being public, the
routes are rate limited per client address (`api.checkout_rate_limit_*`, 429 with Retry-After), and
each API process holds at most `api.checkout_max_streams` event streams (503 beyond: the page falls
back to polling /status). What a payer may see and how a payment is read for it live in
services/checkout; this module is the HTTP around them. Its timings are `api.checkout_*` settings.
"""

from __future__ import annotations

import asyncio
import logging

from quart import Blueprint, Response, make_response, render_template, request, url_for
from quart_schema import security_scheme_blueprint, validate_response
from werkzeug.exceptions import NotFound

from ctrip_core.api.client_address import request_client
from ctrip_core.api.errors import http_error_response
from ctrip_core.api.pages import asset, asset_response, secure_pages
from ctrip_core.api.state import app_state
from ctrip_core.services.checkout.lookup import load_checkout
from ctrip_core.services.checkout.public import CheckoutStatus, page_view, public_status

log = logging.getLogger(__name__)

blueprint = Blueprint("checkout", __name__)  # templates: the app's, api/templates/checkout/
security_scheme_blueprint(blueprint, [])  # unauthenticated, like /health

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
ASSETS = {"checkout.css": "text/css; charset=utf-8", "checkout.js": "text/javascript; charset=utf-8"}
#: Attribute read by the app's OpenAPI provider: the non-JSON responses of a route.
OPENAPI_TEXT_RESPONSES = "openapi_text_responses"
NOT_FOUND_DOC = ("text/html", "No such payment (unknown or malformed id): a plain HTML page")
TOO_MANY_DOC = ("text/plain", "Too many requests from this client address; Retry-After says when to retry")
STREAMS_FULL_DOC = ("text/plain", "This server holds its maximum of event streams; poll /pay/{id}/status")
def _inlined(schema: dict) -> dict:
    """A model's JSON schema with its `$defs` written in place: embedded in another document (an
    event's contentSchema), `#/$defs/...` would point at that document's root, where nothing is."""
    defs = schema.pop("$defs", {})

    def resolve(node):
        if isinstance(node, dict):
            if set(node) == {"$ref"} and node["$ref"].startswith("#/$defs/"):
                return resolve(dict(defs[node["$ref"].removeprefix("#/$defs/")]))
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


#: Each server-sent event, as OpenAPI 3.1 (and Schemathesis) describe a text/event-stream item.
SSE_EVENT_SCHEMA = {"type": "object", "required": ["event", "data"], "properties": {
    "event": {"const": "status", "description": "Always `status`."},
    "id": {"type": "string", "description": "The event's id, for the browser's Last-Event-ID on reconnecting."},
    "retry": {"type": "integer", "description": "Milliseconds the browser waits before reconnecting."},
    "data": {"type": "string", "contentMediaType": "application/json", "description": "The status as JSON.",
             "contentSchema": _inlined(CheckoutStatus.model_json_schema())}}}


def text_responses(responses: dict[int, tuple]):
    """Document a route's text responses in /openapi.json: {status: (content type, description[, schema])};
    the schema defaults to a string."""

    def decorate(handler):
        setattr(handler, OPENAPI_TEXT_RESPONSES, {**responses, 429: TOO_MANY_DOC})  # every route is limited
        return handler

    return decorate


# --- headers -------------------------------------------------------------------------------------

def _under_pay(path: str) -> bool:
    return path == "/pay" or path.startswith("/pay/")


# Every /pay response, the app's own errors (405, redirects) included, gets the strict CSP.
secure_pages(blueprint, "/pay", CSP, cache="no-store")


# --- limits --------------------------------------------------------------------------------------

def _plain(status: int, text: str, retry_after_s: int) -> Response:
    return Response(text + "\n", status=status, headers={"Retry-After": str(retry_after_s)},
                    content_type="text/plain; charset=utf-8")


@blueprint.before_request
async def limit_per_client() -> Response | None:
    """A token bucket per client address on the API's limiter (Redis under `ctrip api`).

    The address is the TCP peer's, or behind proxies listed in `api.trusted_proxies` the client's from
    X-Forwarded-For (api/client_address.py); behind an untrusted proxy every payer shares its address.
    """
    settings = app_state().runtime.settings.api
    decision = await app_state().limiter.hit(f"pay:{request_client()}", rate_per_s=settings.checkout_rate_limit_per_s,
                                             burst=settings.checkout_rate_limit_burst)
    if decision.allowed:
        return None
    return _plain(429, "Too many requests", max(1, int(decision.retry_after_s + 0.999)))


# --- assets --------------------------------------------------------------------------------------

def asset_url(name: str) -> str:
    endpoint = "checkout.stylesheet" if name == "checkout.css" else "checkout.script"
    return url_for(endpoint, v=asset(name)[1])


def _serve_asset(name: str) -> Response:
    return asset_response(name, content_type=ASSETS[name])


@blueprint.get("/pay/assets/checkout.css")
@text_responses({200: ("text/css", "The checkout page's stylesheet")})
async def stylesheet():
    """The hosted checkout's stylesheet."""
    return _serve_asset("checkout.css")


@blueprint.get("/pay/assets/checkout.js")
@text_responses({200: ("text/javascript", "The checkout page's script")})
async def script():
    """The hosted checkout's script: live status, countdown, copy button, browser wallet."""
    return _serve_asset("checkout.js")


# --- loading -------------------------------------------------------------------------------------

async def not_found() -> Response:
    body = await render_template("checkout/not_found.html", asset_url=asset_url)
    return Response(body, status=404, content_type="text/html; charset=utf-8")


@blueprint.app_errorhandler(NotFound)
async def unrouted(exc: NotFound) -> Response:
    """A /pay path that no route matches is the checkout's page too: its HTML 404, as documented
    (an id holding a newline, which the page route's path converter refuses, got the API's JSON);
    anywhere else, the API's JSON error."""
    if _under_pay(request.path):
        return await not_found()
    return http_error_response(exc)


# --- routes --------------------------------------------------------------------------------------

@blueprint.get("/pay/", defaults={"id": ""})
@blueprint.get("/pay/<path:id>")
@text_responses({200: ("text/html", "The checkout page (complete without JavaScript)"), 404: NOT_FOUND_DOC})
async def page(id: str):  # noqa: A002 - the contract's name: GET /pay/{id}
    """The hosted checkout page of a payment: amount, address, QR code, live status."""
    loaded = await load_checkout(app_state().runtime.read_sessions, id, merchant=True)
    if loaded is None:
        return await not_found()
    payment, merchant_name = loaded
    view = page_view(payment, merchant_name)
    settings = app_state().runtime.settings.api
    body = await render_template(
        "checkout/pay.html", p=view, s=view["status"], asset_url=asset_url,
        events_url=url_for("checkout.events", id=payment["id"]),
        status_url=url_for("checkout.status", id=payment["id"]),
        redirect_delay_s=settings.checkout_redirect_delay_s, refresh_s=settings.checkout_refresh_s,
        poll_ms=_milliseconds(settings.checkout_client_poll_s))
    return Response(body, content_type="text/html; charset=utf-8")


@blueprint.get("/pay/<id>/status")
@validate_response(CheckoutStatus, 200)
@text_responses({404: NOT_FOUND_DOC})
async def status(id: str):  # noqa: A002 - the contract's name: GET /pay/{id}
    """The payment's live checkout status as JSON (the polling fallback of /pay/{id}/events)."""
    loaded = await load_checkout(app_state().runtime.read_sessions, id)
    if loaded is None:
        return await not_found()
    return public_status(loaded[0]), 200


def _milliseconds(seconds: float) -> int:
    """SSE `retry:` and the page's `data-poll-ms` count milliseconds; never 0, which would be a busy loop."""
    return max(1, round(seconds * 1000))


def _sse(event: str, data: str) -> bytes:
    return f"event: {event}\ndata: {data}\n\n".encode()


@blueprint.get("/pay/<id>/events")
@text_responses({200: ("text/event-stream", "`status` events until the payment is final (bounded lifetime)",
                       SSE_EVENT_SCHEMA), 404: NOT_FOUND_DOC, 503: STREAMS_FULL_DOC})
async def events(id: str):  # noqa: A002 - the contract's name: GET /pay/{id}
    """Server-sent `status` events for a payment, ending once it is final."""
    state = app_state()
    sessions = state.runtime.read_sessions
    loaded = await load_checkout(sessions, id)
    if loaded is None:
        return await not_found()
    settings = state.runtime.settings.api
    if state.checkout_streams >= settings.checkout_max_streams:
        return _plain(503, "Too many open event streams; poll the status instead", 5)
    first = public_status(loaded[0])
    poll_s, max_s, keepalive_s = settings.checkout_poll_s, settings.checkout_stream_max_s, settings.checkout_keepalive_s
    retry = f"retry: {_milliseconds(settings.checkout_client_poll_s)}\n\n".encode()

    async def stream():
        state.checkout_streams += 1  # counted once it runs; given back however it ends
        loop = asyncio.get_running_loop()
        started = loop.time()
        last_sent, previous, current = started, None, first
        try:
            yield retry
            while True:
                shown = current.model_dump(exclude={"server_time"})
                if shown != previous:
                    yield _sse("status", current.model_dump_json())
                    previous, last_sent = shown, loop.time()
                if current.final:
                    return
                remaining = max_s - (loop.time() - started)
                if remaining <= 0:
                    return  # bounded: the browser reconnects and gets a fresh stream
                if loop.time() - last_sent >= keepalive_s:
                    yield b": keep-alive\n\n"
                    last_sent = loop.time()
                await asyncio.sleep(min(poll_s, remaining))
                reloaded = await load_checkout(sessions, id)
                if reloaded is None:
                    return
                current = public_status(reloaded[0])
        except Exception:  # noqa: BLE001 - a database hiccup ends this stream; the browser reconnects
            log.exception("checkout event stream for %s failed", id)
        finally:
            state.checkout_streams -= 1

    response = await make_response(stream(), 200, {
        "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store",
        "X-Accel-Buffering": "no"})
    response.timeout = None  # Quart's RESPONSE_TIMEOUT would cut the stream; it is bounded above
    return response
