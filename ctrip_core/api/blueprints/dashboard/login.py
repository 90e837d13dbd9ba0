"""Logging in to the dashboard and out of it.

The login form's CSRF token comes from a short-lived cookie set with the form (there is no session
yet), signed with `secret_key`, and the POST must come from this origin (`_form_token_ok`). Logins are rate limited per client address on the API's limiter and locked out per user after
wrong passwords (services/dashboard/login.py).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from quart import Blueprint, Response, redirect, request, url_for
from quart_schema import hide

from ctrip_core.api.blueprints.dashboard.site import (PREFIX, SESSION_COOKIE, current, expired_form, page,
                                                      set_cookie, to_login)
from ctrip_core.api.client_address import request_client
from ctrip_core.api.state import app_state
from ctrip_core.db.types import utcnow
from ctrip_core.services.dashboard import invitations, sessions
from ctrip_core.services.dashboard.login import log_in
from ctrip_core.services.errors import InvalidField, NotFound
from ctrip_core.services.webhooks.secret_box import SecretBox

blueprint = Blueprint("login", __name__)

LOGIN_CSRF_COOKIE = "ctrip_login_csrf"
LOGIN_RATE_PER_S, LOGIN_BURST = 0.2, 10  # per client address: 10 tries, then one every 5 s


def _secret_key() -> str:
    return app_state().runtime.settings.secret_key.get_secret_value()  # `ctrip api` refuses to start without it


def _same_origin() -> bool:
    """The form was posted from a page of this origin, as the browser says: `Sec-Fetch-Site` (a
    sibling subdomain is "same-site", not "same-origin"), else `Origin`'s host. Without either (an
    old browser, a script) only the token decides."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")  # "null" under our Referrer-Policy: no-referrer (says nothing)
    return origin in (None, "null") or urlsplit(origin).netloc.lower() == request.host.lower()


def _form_token_ok(form) -> bool:
    """The login or setup form's CSRF check: a token this server signed, posted back with the cookie
    holding it, from a page of this origin. A cookie a sibling subdomain planted (with a token it
    fetched from us) fails the last part."""
    return _same_origin() and sessions.login_token_ok(_secret_key(), form.get("csrf_token"),
                                                      request.cookies.get(LOGIN_CSRF_COOKIE))


async def _login_form(error: str | None = None, status: int = 200, email: str = "", ready: bool = False) -> Response:
    token = sessions.new_login_token(_secret_key())
    response = await page("login.html", status, csrf_token=token, error=error, email=email, ready=ready)
    set_cookie(response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@blueprint.get("/dashboard/login")
@hide
async def login_form():
    return await _login_form(ready=request.args.get("ready") == "1")


@blueprint.post("/dashboard/login")
@hide
async def login():
    form = await request.form
    if not _form_token_ok(form):
        return await _login_form("The form expired: please try again.", 403)
    decision = await app_state().limiter.hit(f"login:{request_client()}", rate_per_s=LOGIN_RATE_PER_S,
                                             burst=LOGIN_BURST)
    if not decision.allowed:
        return await _login_form("Too many attempts from here: wait a little.", 429, form.get("email", ""))
    runtime = app_state().runtime
    async with app_state().login_checks, runtime.sessions() as session, session.begin():  # committed refused too
        outcome = await log_in(session, form.get("email", ""), form.get("password", ""), utcnow(),
                               code=form.get("code", ""), box=SecretBox.from_settings(runtime.settings))
        token = None if outcome.user is None else await sessions.start(session, outcome.user, utcnow())
    if token is None:
        return await _login_form(outcome.refusal.capitalize() + ".", 401, form.get("email", ""))
    response = redirect(url_for("dashboard.payments.payments_page"), 303)
    set_cookie(response, SESSION_COOKIE, token, max_age=int(sessions.LIFETIME.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
    return response


@blueprint.post("/dashboard/logout")
@hide
async def logout():
    form = await request.form
    now = await current()
    if now is None:
        return to_login()
    if not sessions.same_token(form.get("csrf_token"), now.csrf_token):
        return expired_form()
    async with app_state().runtime.sessions() as session, session.begin():
        if form.get("everywhere") == "1":
            await sessions.end_all(session, now.user.id)
        else:
            await sessions.end(session, request.cookies.get(SESSION_COOKIE))
    return to_login()


# --- an invitation's one-time link (services/dashboard/invitations.py) ------------------------------

async def _setup_form(token: str, *, error: str | None = None, status: int = 200) -> Response:
    csrf = sessions.new_login_token(_secret_key())
    response = await page("setup.html", status, csrf_token=csrf, token=token, error=error)
    set_cookie(response, LOGIN_CSRF_COOKIE, csrf, max_age=3600)
    return response


@blueprint.get("/dashboard/setup/<token>")
@hide
async def setup_form(token: str):
    async with app_state().runtime.read_sessions() as session:
        try:
            await invitations.invited(session, token, utcnow())
        except NotFound as exc:
            return await page("setup.html", 404, error=exc.message.capitalize() + ".", token=None)
    return await _setup_form(token)


@blueprint.post("/dashboard/setup/<token>")
@hide
async def setup(token: str):
    form = await request.form
    if not _form_token_ok(form):
        return await _setup_form(token, error="The form expired: please try again.", status=403)
    password = form.get("password", "")
    if password != form.get("password_again", ""):
        return await _setup_form(token, error="The two passwords differ.", status=422)
    try:
        async with app_state().login_checks, app_state().runtime.sessions() as session, session.begin():
            await invitations.set_password(session, token, password, utcnow())
    except NotFound as exc:
        return await page("setup.html", 404, error=exc.message.capitalize() + ".", token=None)
    except InvalidField as exc:
        return await _setup_form(token, error=exc.message.capitalize() + ".", status=422)
    response = redirect(url_for("dashboard.login.login_form", ready=1), 303)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
    return response
