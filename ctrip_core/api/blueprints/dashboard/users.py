"""The dashboard's users of the merchant (owner only): the list, invite a person (a one-time link
to set a password, shown once to pass on: cTrip never handles their password), change a role,
remove a user. The merchant always keeps an owner."""

from __future__ import annotations

from quart import Blueprint, redirect, request
from quart_schema import hide
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ctrip_core.api.blueprints.dashboard.site import signed_in, signed_in_page
from ctrip_core.api.state import app_state
from ctrip_core.db.models import USER_ROLES, ApiKey
from ctrip_core.db.types import utcnow
from ctrip_core.ids import has_id_shape
from ctrip_core.services.accounts import users
from ctrip_core.services.dashboard import invitations
from ctrip_core.services.errors import Conflict, NotFound, ServiceError

blueprint = Blueprint("users", __name__)

DONE = {"role": "Role changed.", "removed": "User removed; their sessions ended.",
        "removed-keys-left": "User removed; their sessions ended. API keys they created are still active: "
                             "revoke them on the API keys page if they should go too."}


async def _page(now, *, link: str | None = None, invited_email: str | None = None, error: str | None = None,
                status: int = 200):
    async with app_state().runtime.read_sessions() as session:
        rows = await users.users_of(session, now.user.merchant_id) or []
    return await signed_in_page(now, "users.html", status, users=rows, roles=USER_ROLES, link=link,
                                invited_email=invited_email, error=error, done=DONE.get(request.args.get("done", "")),
                                no_password=users.NO_PASSWORD)


@blueprint.get("/dashboard/users")
@hide
@signed_in(owner=True)
async def users_page(now):
    return await _page(now)


@blueprint.post("/dashboard/users")
@hide
@signed_in(owner=True)
async def invite(now):
    form = await request.form
    try:
        async with app_state().runtime.sessions() as session, session.begin():
            user, path = await invitations.invite(session, now.user.merchant_id, form.get("email", ""),
                                                  form.get("role", "viewer"), utcnow())
            email = user.email
    except ServiceError as exc:
        return await _page(now, error=exc.message, status=409 if isinstance(exc, Conflict) else 422)
    except IntegrityError:  # the same email added elsewhere at the same moment
        return await _page(now, error="a user with this email exists already", status=409)
    return await _page(now, link=request.host_url.rstrip("/") + path, invited_email=email, status=201)


async def _act(now, user_id: str, work, done: str):
    try:
        if not has_id_shape(user_id, "usr"):
            raise NotFound("no such user")
        async with app_state().runtime.sessions() as session, session.begin():
            keys_left = await session.scalar(select(func.count()).select_from(ApiKey).where(
                ApiKey.merchant_id == now.user.merchant_id, ApiKey.created_by == user_id, ApiKey.revoked_at.is_(None)))
            await work(session)
    except NotFound:
        return await signed_in_page(now, "not_found.html", 404, what="user")
    except ServiceError as exc:
        return await _page(now, error=exc.message, status=409)
    if done == "removed" and keys_left:
        done = "removed-keys-left"
    return redirect(f"/dashboard/users?done={done}", 303)


@blueprint.post("/dashboard/users/<user_id>/role")
@hide
@signed_in(owner=True)
async def set_role(now, user_id: str):
    role = (await request.form).get("role", "")
    return await _act(now, user_id, lambda s: users.set_role(s, now.user.merchant_id, user_id, role), "role")


@blueprint.post("/dashboard/users/<user_id>/remove")
@hide
@signed_in(owner=True)
async def remove(now, user_id: str):
    return await _act(now, user_id, lambda s: users.remove_user(s, now.user.merchant_id, user_id), "removed")
