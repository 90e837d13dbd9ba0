"""The merchant dashboard's HTTP: `/dashboard` (payments, filtered or searched), log in and out.

Server-rendered (Jinja, autoescaped: a merchant's `order_id` or `metadata` is text, never markup),
no JavaScript, one stylesheet from the package. Every response carries a strict CSP. The session
cookie is HttpOnly, SameSite=Strict, path /dashboard, Secure but at localhost (`_secure`); every POST carries the
CSRF token of its session (the login form: of a short-lived cookie set with the form), checked
before anything else. Logins are rate limited per client address on the API's limiter and locked
out per user after wrong passwords (services/dashboard/login.py). Hidden from /openapi.json: it
is a site, not the API. A user sees only its own merchant's payments.
"""

from __future__ import annotations

from quart import Blueprint, Response, redirect, render_template, request, url_for
from sqlalchemy import select
from quart_schema import hide

from ctrip_core.api.client_address import request_client
from ctrip_core.api.pages import asset, asset_response, secure_pages
from ctrip_core.api.state import app_state
from ctrip_core.db.models import PAYMENT_STATUSES, Payout
from ctrip_core.db.types import utcnow
from ctrip_core.services.checkout.public import valid_payment_id
from ctrip_core.services.dashboard import sessions
from ctrip_core.services.dashboard.login import log_in
from ctrip_core.services.dashboard.search import find_payments
from ctrip_core.services.errors import InvalidField, NotFound
from ctrip_core.services.outbox import events
from ctrip_core.services.payments import operations as payments
from ctrip_core.services.payments.payment_view import render_many, render_one
from ctrip_core.services.payouts.payout_view import render as render_refund

blueprint = Blueprint("dashboard", __name__)

SESSION_COOKIE = "ctrip_session"
LOGIN_CSRF_COOKIE = "ctrip_login_csrf"
LOGIN_RATE_PER_S, LOGIN_BURST = 0.2, 10  # per client address: 10 tries, then one every 5 s
PAGE = 25
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
secure_pages(blueprint, "/dashboard", CSP, cache="no-store")


def _secure() -> bool:
    """Secure cookies everywhere but on this machine's own address (`ctrip dev`): behind a proxy that
    ends TLS the scheme Hypercorn sees is http, so the scheme alone cannot say."""
    host = request.host.rsplit(":", 1)[0] if not request.host.startswith("[") else request.host.split("]")[0] + "]"
    return request.scheme == "https" or host not in ("localhost", "127.0.0.1", "[::1]")


def _cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/dashboard", httponly=True, samesite="Strict",
                        secure=_secure())


async def _page(template: str, status: int = 200, **context) -> Response:
    body = await render_template(f"dashboard/{template}", stylesheet=url_for("dashboard.stylesheet",
                                                                              v=asset("dashboard.css")[1]), **context)
    return Response(body, status=status, content_type="text/html; charset=utf-8")


@blueprint.get("/dashboard/assets/dashboard.css")
@hide
async def stylesheet():
    return asset_response("dashboard.css", content_type="text/css; charset=utf-8")


# --- logging in and out --------------------------------------------------------------------------

async def _login_form(error: str | None = None, status: int = 200, email: str = "") -> Response:
    token = sessions.new_csrf_token()
    response = await _page("login.html", status, csrf_token=token, error=error, email=email)
    _cookie(response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@blueprint.get("/dashboard/login")
@hide
async def login_form():
    return await _login_form()


@blueprint.post("/dashboard/login")
@hide
async def login():
    form = await request.form
    if not sessions.same_token(form.get("csrf_token"), request.cookies.get(LOGIN_CSRF_COOKIE)):
        return await _login_form("The form expired: please try again.", 403)
    decision = await app_state().limiter.hit(f"login:{request_client()}", rate_per_s=LOGIN_RATE_PER_S,
                                             burst=LOGIN_BURST)
    if not decision.allowed:
        return await _login_form("Too many attempts from here: wait a little.", 429, form.get("email", ""))
    runtime = app_state().runtime
    async with app_state().login_checks, runtime.sessions() as session, session.begin():  # committed refused too
        outcome = await log_in(session, form.get("email", ""), form.get("password", ""), utcnow())
        token = None if outcome.user is None else await sessions.start(session, outcome.user, utcnow())
    if token is None:
        return await _login_form(outcome.refusal.capitalize() + ".", 401, form.get("email", ""))
    response = redirect(url_for("dashboard.payments_page"), 303)
    _cookie(response, SESSION_COOKIE, token, max_age=int(sessions.LIFETIME.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/dashboard")
    return response


async def _current() -> sessions.Current | None:
    async with app_state().runtime.sessions() as session, session.begin():
        return await sessions.current(session, request.cookies.get(SESSION_COOKIE), utcnow())


def _to_login() -> Response:
    response = redirect(url_for("dashboard.login_form"), 303)
    if SESSION_COOKIE in request.cookies:  # (a cross-site link carries none: nothing to clear)
        response.delete_cookie(SESSION_COOKIE, path="/dashboard")
    return response


@blueprint.post("/dashboard/logout")
@hide
async def logout():
    form = await request.form
    now = await _current()
    if now is None:
        return _to_login()
    if not sessions.same_token(form.get("csrf_token"), now.csrf_token):
        return Response("The form expired: reload the page.\n", status=403, content_type="text/plain; charset=utf-8")
    async with app_state().runtime.sessions() as session, session.begin():
        if form.get("everywhere") == "1":
            await sessions.end_all(session, now.user.id)
        else:
            await sessions.end(session, request.cookies.get(SESSION_COOKIE))
    return _to_login()


# --- pages ---------------------------------------------------------------------------------------

@blueprint.get("/dashboard")
@hide
async def payments_page():
    now = await _current()
    if now is None:
        return _to_login()
    args = request.args
    status = args.get("status") or None
    status = status if status in PAYMENT_STATUSES else None
    chain, text, after = (args.get("chain") or None), (args.get("q") or "").strip(), (args.get("after") or None)
    if "\x00" in text or (after and "\x00" in after):  # no id, address, hash or order id holds NUL
        text, after = text.replace("\x00", ""), None
    chains = sorted(app_state().runtime.chains)
    chain = chain if chain in chains else None
    error, has_more = None, False
    async with app_state().runtime.read_sessions() as session:
        try:
            if text:
                rows = await find_payments(session, now.user.merchant_id, text)
            else:
                rows, has_more = await payments.list_payments(session, now.user.merchant_id, status=status,
                                                              chain=chain, limit=PAGE, starting_after=after)
        except InvalidField as exc:
            rows, error = [], exc.message
        data = await render_many(session, rows)
    return await _page("payments.html", user=now.user, csrf_token=now.csrf_token, payments=data, statuses=PAYMENT_STATUSES,
                       chains=chains, status=status, chain=chain, q=text, has_more=has_more, error=error,
                       next_after=data[-1]["id"] if has_more and data else None)


@blueprint.get("/dashboard/payments/<payment_id>")
@hide
async def payment_page(payment_id: str):
    """A payment's timeline: its transfers (confirmations, explorer links), events with each delivery
    attempt, and refunds. Another merchant's payment, or none, is the same 404."""
    now = await _current()
    if now is None:
        return _to_login()
    runtime = app_state().runtime
    async with runtime.read_sessions() as session:
        try:
            if not valid_payment_id(payment_id):  # a malformed id (NUL, 5000 characters) asks nothing
                raise NotFound(f"no payment {payment_id[:40]}")
            payment = await payments.get_payment(session, now.user.merchant_id, payment_id)
        except NotFound:
            return await _page("not_found.html", 404, user=now.user, csrf_token=now.csrf_token)
        view = await render_one(session, payment)
        rows, _ = await events.list_events(session, now.user.merchant_id, payment_id=payment.id, limit=100)
        attempts = await events.attempts_of(session, [e.id for e in rows])
        config = runtime.chains[payment.chain].config if payment.chain in runtime.chains else None
        refunds = []
        for refund in await session.scalars(select(Payout).where(Payout.payment_id == payment.id)
                                            .order_by(Payout.created_at)):
            asset = config.asset(refund.asset) if config else None
            refunds.append(await render_refund(session, refund, asset.decimals if asset else 0))
    explorer = config.explorer_url.rstrip("/") if config and config.explorer_url else None
    return await _page("payment.html", user=now.user, csrf_token=now.csrf_token, p=view, explorer=explorer,
                       events=[(e, attempts[e.id]) for e in rows], refunds=refunds)
