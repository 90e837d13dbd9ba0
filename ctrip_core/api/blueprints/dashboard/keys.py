"""The dashboard's API keys: the list (prefix, scopes, created, revoked; never a key), and (owner)
create one with its scopes (the key shown once, on the page the form lands on) or revoke one at
once. A revocation is announced to every `ctrip api` process as `ctrip merchant revoke-key` does
(api/key_cache.py)."""

from __future__ import annotations

import logging

from quart import Blueprint, redirect, request
from quart_schema import hide

from ctrip_core.api.blueprints.dashboard.site import signed_in, signed_in_page
from ctrip_core.api.ratelimit import MemoryRateLimiter
from ctrip_core.api.state import app_state
from ctrip_core.ids import has_id_shape
from ctrip_core.services.accounts.api_keys import announce_revocation
from ctrip_core.services.accounts.merchants import add_api_key, api_keys_of, revoke_api_key
from ctrip_core.services.accounts.users import users_of
from ctrip_core.services.accounts.scopes import DEFAULT_SCOPES, SCOPES, UnknownScope, scopes_of

blueprint = Blueprint("keys", __name__)
log = logging.getLogger(__name__)


async def _page(now, *, new_key: str | None = None, new_id: str | None = None, error: str | None = None,
                status: int = 200, done: str | None = None):
    async with app_state().runtime.read_sessions() as session:
        keys = await api_keys_of(session, now.user.merchant_id) or []
        people = {u.id: u.email for u in await users_of(session, now.user.merchant_id) or []}
    rows = [(k, sorted(scopes_of(k.scopes)), people.get(k.created_by)) for k in reversed(keys)]
    return await signed_in_page(now, "keys.html", status, keys=rows, scopes=SCOPES, default_scopes=DEFAULT_SCOPES,
                                new_key=new_key, new_id=new_id, error=error, done=done)


@blueprint.get("/dashboard/keys")
@hide
@signed_in
async def keys_page(now):
    done = {"revoked": "Key revoked.", "revoked-late": "Key revoked; running API processes may accept it for up "
            "to api.key_cache_s more (Redis did not answer)."}.get(request.args.get("done", ""))
    return await _page(now, done=done)


@blueprint.post("/dashboard/keys")
@hide
@signed_in(owner=True)
async def create(now):
    form = await request.form
    try:
        async with app_state().runtime.sessions() as session, session.begin():
            key_id, api_key = await add_api_key(session, now.user.merchant_id, form.getlist("scopes") or ["read"],
                                                created_by=now.user.id)
    except UnknownScope as exc:
        return await _page(now, error=str(exc), status=422)
    return await _page(now, new_key=api_key, new_id=key_id, status=201)


@blueprint.post("/dashboard/keys/<key_id>/revoke")
@hide
@signed_in(owner=True)
async def revoke(now, key_id: str):
    runtime = app_state().runtime
    async with runtime.sessions() as session, session.begin():
        revoked = await revoke_api_key(session, key_id, now.user.merchant_id) if has_id_shape(key_id, "key") else None
    if revoked is None:
        return await signed_in_page(now, "not_found.html", 404, what="active API key")
    if isinstance(app_state().limiter, MemoryRateLimiter):  # `ctrip dev`: no process caches a key (api/key_cache.py)
        return redirect("/dashboard/keys?done=revoked", 303)
    try:  # after the commit: the other API processes drop the keys they verified before it
        await announce_revocation(runtime.settings.redis_url)
    except Exception as exc:  # noqa: BLE001 - the revocation stands; say what it means
        log.warning("API key %s revoked, but redis_url did not answer (%s)", revoked.id, type(exc).__name__)
        return redirect("/dashboard/keys?done=revoked-late", 303)
    return redirect("/dashboard/keys?done=revoked", 303)
