"""/v1/webhook-endpoints: create (secret shown once), list, get, delete."""

from __future__ import annotations

from quart import Blueprint, g
from quart_schema import validate_request, validate_response

from ctrip_core.api.auth import scope
from ctrip_core.api.docs import errors
from ctrip_core.api.idempotency import idempotent
from ctrip_core.api.schemas import CreateWebhookEndpoint, DeletedOut, WebhookEndpointList, WebhookEndpointOut
from ctrip_core.api.state import app_state
from ctrip_core.api.transaction import in_transaction
from ctrip_core.services.webhooks.secret_box import SecretBox
from ctrip_core.services.webhooks import endpoints

blueprint = Blueprint("webhook_endpoints", __name__)


def render(endpoint, secret: str | None = None) -> WebhookEndpointOut:
    return WebhookEndpointOut(**endpoints.render_endpoint(endpoint), secret=secret)


@blueprint.post("/webhook-endpoints")
@scope("payments")
@validate_request(CreateWebhookEndpoint)
@validate_response(WebhookEndpointOut, 201)
@errors(409)
@in_transaction
@idempotent(sealed=True)
async def create_endpoint(data: CreateWebhookEndpoint):
    """Create a webhook endpoint; its `secret` is in this response only."""
    settings = app_state().runtime.settings
    endpoint, secret = await endpoints.create_public_endpoint(g.db, SecretBox.from_settings(settings), g.merchant_id,
                                                              data.url, data.events,
                                                              allow_private=settings.webhooks.allow_private_targets)
    return render(endpoint, secret), 201


@blueprint.post("/webhook-endpoints/<endpoint_id>/rotate-secret")
@scope("payments")
@validate_response(WebhookEndpointOut, 200)
@errors(404, 409)
@in_transaction
@idempotent(sealed=True)
async def rotate_secret(endpoint_id: str):
    """Replace the signing secret; the old one keeps signing (a second signature) for 24 hours."""
    box = SecretBox.from_settings(app_state().runtime.settings)
    endpoint, secret = await endpoints.rotate_secret(g.db, box, g.merchant_id, endpoint_id)
    return render(endpoint, secret), 200


@blueprint.get("/webhook-endpoints")
@scope("read")
@validate_response(WebhookEndpointList, 200)
@errors()
async def list_endpoints():
    """The merchant's webhook endpoints (secrets are never shown again)."""
    async with app_state().runtime.read_sessions() as session:
        rows = await endpoints.list_endpoints(session, g.merchant_id)
    return WebhookEndpointList(object="list", data=[render(e) for e in rows]), 200


@blueprint.get("/webhook-endpoints/<endpoint_id>")
@scope("read")
@validate_response(WebhookEndpointOut, 200)
@errors(404)
async def get_endpoint(endpoint_id: str):
    """One webhook endpoint."""
    async with app_state().runtime.read_sessions() as session:
        return render(await endpoints.get_endpoint(session, g.merchant_id, endpoint_id)), 200


@blueprint.delete("/webhook-endpoints/<endpoint_id>")
@scope("payments")
@validate_response(DeletedOut, 200)
@errors(404)
@in_transaction
async def delete_endpoint(endpoint_id: str):
    """Delete a webhook endpoint; nothing more is delivered to it."""
    await endpoints.delete_endpoint(g.db, g.merchant_id, endpoint_id)
    return DeletedOut(id=endpoint_id, deleted=True), 200
