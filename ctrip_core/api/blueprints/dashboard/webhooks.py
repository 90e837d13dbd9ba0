"""The dashboard's webhook endpoints: the list; an endpoint's page with its delivery log; and (owner)
create one (its signing secret shown once, on the page the form lands on, never again), rotate its
secret (the old one keeps signing for 24 hours), disable and enable it, send it a test event."""

from __future__ import annotations

from quart import Blueprint, redirect, request
from quart_schema import hide
from werkzeug.datastructures import MultiDict

from ctrip_core.api.blueprints.dashboard.site import signed_in, signed_in_page
from ctrip_core.api.state import app_state
from ctrip_core.ids import has_id_shape
from ctrip_core.services.errors import NotFound, ServiceError
from ctrip_core.services.outbox.events import EVENT_TYPES
from ctrip_core.services.webhooks import endpoints
from ctrip_core.services.webhooks.attempt_log import attempt_log
from ctrip_core.services.webhooks.secret_box import SecretBox
from ctrip_core.services.webhooks.subscriptions import TEST_EVENT
from ctrip_core.services.webhooks.test_event import send_test_event

blueprint = Blueprint("webhooks", __name__)

DONE = {"test": "Test event queued: its attempt appears below within seconds.", "disabled": "Endpoint disabled.",
        "enabled": "Endpoint enabled."}


async def _list(now, *, error: str | None = None, status: int = 200, form=None):
    async with app_state().runtime.read_sessions() as session:
        rows = await endpoints.list_endpoints(session, now.user.merchant_id)
    return await signed_in_page(now, "webhooks.html", status, endpoints=rows,
                                event_types=[t for t in EVENT_TYPES if t != TEST_EVENT],  # sent on request only
                                error=error, form=form or MultiDict())


@blueprint.get("/dashboard/webhooks")
@hide
@signed_in
async def webhooks_page(now):
    return await _list(now)


@blueprint.post("/dashboard/webhooks")
@hide
@signed_in(owner=True)
async def create(now):
    """A new endpoint; the page shows its signing secret this once."""
    form = await request.form
    runtime = app_state().runtime
    try:
        async with runtime.sessions() as session, session.begin():
            endpoint, secret = await endpoints.create_public_endpoint(
                session, SecretBox.from_settings(runtime.settings), now.user.merchant_id,
                (form.get("url") or "").strip(), form.getlist("events") or None,
                allow_private=runtime.settings.webhooks.allow_private_targets)
            endpoint_id = endpoint.id
    except ServiceError as exc:
        return await _list(now, error=exc.message, status=422, form=form)
    return await _endpoint_page(now, endpoint_id, secret=secret, status=201)


async def _endpoint_page(now, endpoint_id: str, *, secret: str | None = None, status: int = 200,
                         error: str | None = None):
    if not has_id_shape(endpoint_id, "we"):
        return await signed_in_page(now, "not_found.html", 404, what="webhook endpoint")
    async with app_state().runtime.read_sessions() as session:
        try:
            endpoint = await endpoints.get_endpoint(session, now.user.merchant_id, endpoint_id)
        except NotFound:
            return await signed_in_page(now, "not_found.html", 404, what="webhook endpoint")
        log = await attempt_log(session, endpoint.id)
    return await signed_in_page(now, "webhook.html", status, e=endpoints.render_endpoint(endpoint), log=log,
                                secret=secret, error=error, done=DONE.get(request.args.get("done", "")))


@blueprint.get("/dashboard/webhooks/<endpoint_id>")
@hide
@signed_in
async def endpoint_page(now, endpoint_id: str):
    return await _endpoint_page(now, endpoint_id)


@blueprint.post("/dashboard/webhooks/<endpoint_id>/rotate")
@hide
@signed_in(owner=True)
async def rotate(now, endpoint_id: str):
    runtime = app_state().runtime
    try:
        if not has_id_shape(endpoint_id, "we"):
            raise NotFound("no such endpoint")
        async with runtime.sessions() as session, session.begin():
            _, secret = await endpoints.rotate_secret(session, SecretBox.from_settings(runtime.settings),
                                                      now.user.merchant_id, endpoint_id)
    except NotFound:
        return await signed_in_page(now, "not_found.html", 404, what="webhook endpoint")
    return await _endpoint_page(now, endpoint_id, secret=secret)


async def _act(now, endpoint_id: str, work, done: str):
    try:
        if not has_id_shape(endpoint_id, "we"):
            raise NotFound("no such endpoint")
        async with app_state().runtime.sessions() as session, session.begin():
            await work(session)
    except NotFound:
        return await signed_in_page(now, "not_found.html", 404, what="webhook endpoint")
    except ServiceError as exc:
        return await _endpoint_page(now, endpoint_id, error=exc.message, status=409)
    return redirect(f"/dashboard/webhooks/{endpoint_id}?done={done}", 303)


@blueprint.post("/dashboard/webhooks/<endpoint_id>/test")
@hide
@signed_in(owner=True)
async def test(now, endpoint_id: str):
    return await _act(now, endpoint_id, lambda s: send_test_event(s, now.user.merchant_id, endpoint_id), "test")


@blueprint.post("/dashboard/webhooks/<endpoint_id>/disable")
@hide
@signed_in(owner=True)
async def disable(now, endpoint_id: str):
    return await _act(now, endpoint_id, lambda s: endpoints.set_enabled(s, now.user.merchant_id, endpoint_id,
                                                                          False), "disabled")


@blueprint.post("/dashboard/webhooks/<endpoint_id>/enable")
@hide
@signed_in(owner=True)
async def enable(now, endpoint_id: str):
    return await _act(now, endpoint_id, lambda s: endpoints.set_enabled(s, now.user.merchant_id, endpoint_id,
                                                                          True), "enabled")
