"""The signed-in user's own account: two-factor authentication (TOTP, services/dashboard/totp.py):
turn it on (a QR code and the secret as text, then a code from the app to confirm) or off (with a
current code). Every user has it, viewers too: it protects the login, not an action."""

from __future__ import annotations

from quart import Blueprint, redirect, request
from quart_schema import hide

from ctrip_core.api.blueprints.dashboard.site import signed_in, signed_in_page
from ctrip_core.api.state import app_state
from ctrip_core.db.models import DashboardUser
from ctrip_core.db.types import utcnow
from ctrip_core.services.dashboard import totp
from ctrip_core.services.errors import ServiceError
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


async def _change(now, work, done: str | None):
    try:
        async with app_state().runtime.sessions() as session, session.begin():
            user = await session.get(DashboardUser, now.user.id, with_for_update=True)
            work(user)
    except ServiceError as exc:
        return await _page(now, error=exc.message, status=422)
    return redirect("/dashboard/account" + (f"?done={done}" if done else ""), 303)


@blueprint.post("/dashboard/account/totp/start")
@hide
@signed_in
async def start(now):
    """A new secret, not on until confirmed (starting again replaces an unconfirmed one)."""
    return await _change(now, lambda user: totp.start(user, _box()), None)


@blueprint.post("/dashboard/account/totp/confirm")
@hide
@signed_in
async def confirm(now):
    code = (await request.form).get("code", "")
    return await _change(now, lambda user: totp.confirm(user, _box(), code, utcnow()), "on")


@blueprint.post("/dashboard/account/totp/off")
@hide
@signed_in
async def turn_off(now):
    code = (await request.form).get("code", "")
    return await _change(now, lambda user: totp.turn_off(user, _box(), code, utcnow()), "off")
