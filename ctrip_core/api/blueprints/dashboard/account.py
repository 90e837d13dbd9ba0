"""The signed-in user's own account: two-factor authentication (TOTP, services/dashboard/totp.py):
turn it on (the current password, then a QR code and the secret as text, then a code from the app
to confirm) or off (the current password and a current code). Every user has it, viewers too: it
protects the login, not an action.

A stolen session alone can neither enrol the thief's app nor turn the factor off: both need the
password. A wrong password or code here counts as a wrong login (services/dashboard/login.py):
after `MAX_FAILURES` in a row the user is locked out and every session of theirs ends, so codes
cannot be guessed through this page either."""

from __future__ import annotations

import asyncio

from quart import Blueprint, redirect, request
from quart_schema import hide
from sqlalchemy import select

from ctrip_core.api.blueprints.dashboard.site import signed_in, signed_in_page, to_login
from ctrip_core.api.state import app_state
from ctrip_core.db.models import DashboardUser
from ctrip_core.db.types import utcnow
from ctrip_core.services.accounts.users import check_password
from ctrip_core.services.dashboard import sessions, totp
from ctrip_core.services.dashboard.login import count_failure
from ctrip_core.services.errors import InvalidField, ServiceError
from ctrip_core.services.webhooks.secret_box import SecretBox

blueprint = Blueprint("account", __name__)

DONE = {"on": "Two-factor authentication is on: logging in now asks for a code.",
        "off": "Two-factor authentication is off."}


def _box() -> SecretBox:
    return SecretBox.from_settings(app_state().runtime.settings)


async def _page(now, *, error: str | None = None, status: int = 200):
    async with app_state().runtime.read_sessions() as session:
        user = await session.get(DashboardUser, now.user.id)
        pending = totp.pending_secret(user, _box())
        on = totp.is_on(user)
    enrolment = None
    if pending is not None:
        uri = totp.provisioning_uri(pending, user.email)
        enrolment = {"secret": pending, "uri": uri, "qr": totp.qr_svg_data_uri(uri)}
    return await signed_in_page(now, "account.html", status, on=on, enrolment=enrolment, error=error,
                                done=DONE.get(request.args.get("done", "")))


@blueprint.get("/dashboard/account")
@hide
@signed_in
async def account_page(now):
    return await _page(now)


async def _password_ok(now, password: str) -> bool:
    """The user's current password, checked in a thread like a login's (at most two at once)."""
    runtime = app_state().runtime
    async with runtime.read_sessions() as session:
        stored = await session.scalar(select(DashboardUser.password_hash).where(DashboardUser.id == now.user.id))
    async with app_state().login_checks:
        return (await asyncio.to_thread(check_password, stored or "", password[:1024])).ok


async def _change(now, work, done: str | None, *, password: bool):
    """`work(user)` on the locked user row, after its password when `password`; a refusal counts."""
    form = await request.form
    password_ok = not password or await _password_ok(now, form.get("password", ""))
    error, locked = None, False
    async with app_state().runtime.sessions() as session, session.begin():
        user = await session.get(DashboardUser, now.user.id, with_for_update=True)
        try:
            if not password_ok:
                raise InvalidField("wrong password", "password")
            work(user, form.get("code", ""))
            user.failed_logins = 0
        except ServiceError as exc:
            error = exc.message
            if isinstance(exc, InvalidField) and count_failure(user, utcnow()):
                await sessions.end_all(session, user.id)
                locked = True
    if locked:
        return to_login()
    if error is not None:
        return await _page(now, error=error[0].upper() + error[1:] + ".", status=422)
    return redirect("/dashboard/account" + (f"?done={done}" if done else ""), 303)


@blueprint.post("/dashboard/account/totp/start")
@hide
@signed_in
async def start(now):
    """A new secret, not on until confirmed (starting again replaces an unconfirmed one)."""
    return await _change(now, lambda user, _: totp.start(user, _box()), None, password=True)


@blueprint.post("/dashboard/account/totp/confirm")
@hide
@signed_in
async def confirm(now):
    return await _change(now, lambda user, code: totp.confirm(user, _box(), code, utcnow()), "on", password=False)


@blueprint.post("/dashboard/account/totp/off")
@hide
@signed_in
async def turn_off(now):
    return await _change(now, lambda user, code: totp.turn_off(user, _box(), code, utcnow()), "off", password=True)
