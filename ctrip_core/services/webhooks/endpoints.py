"""Merchants' webhook endpoints: create (secret shown once), list, get, delete, and the endpoint
object as the API and the `webhook_endpoint.*` events show it (never its secret)."""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import WebhookEndpoint
from ctrip_core.db.types import utcnow
from ctrip_core.ids import new_id
from ctrip_core.services.webhooks.secret_box import SecretBox
from ctrip_core.services.webhooks.ssrf import UnsafeTarget, check_target
from ctrip_core.services.errors import InvalidField, NotFound
from ctrip_core.services.outbox.events import EVENT_TYPES
from ctrip_core.services.payments.payment_view import iso
from ctrip_core.services.urls import check_http_url

SECRET_BYTES = 24
ROTATION_OVERLAP = timedelta(hours=24)


def new_signing_secret() -> str:
    """`whsec_` + base64 of 24 random bytes (Standard Webhooks)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def render_endpoint(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """The webhook endpoint object, without its secret (the API adds that once, at creation or rotation)."""
    return {"id": endpoint.id, "object": "webhook_endpoint", "url": endpoint.url, "events": endpoint.events or [],
            "status": endpoint.status, "created_at": iso(endpoint.created_at),
            "failing_since": iso(endpoint.failing_since), "disabled_at": iso(endpoint.disabled_at)}


def check_url(url: str) -> str:
    """The URL as given, or InvalidField naming `url` (services/urls.py: the rule redirect_url shares)."""
    return check_http_url(url, "url")


async def create_endpoint(session: AsyncSession, box: SecretBox, merchant_id: str, url: str,
                          events: list[str] | None) -> tuple[WebhookEndpoint, str]:
    """→ (endpoint, signing secret in clear: returned to the merchant once, stored encrypted)."""
    check_url(url)
    unknown = [e for e in events or [] if e not in EVENT_TYPES]
    if unknown:
        raise InvalidField(f"unknown event types: {', '.join(unknown)}", "events")
    secret = new_signing_secret()
    endpoint = WebhookEndpoint(id=new_id("we"), merchant_id=merchant_id, url=url, events=sorted(set(events or [])),
                               secret_ciphertext=box.seal(secret), status="enabled")
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def create_public_endpoint(session: AsyncSession, box: SecretBox, merchant_id: str, url: str,
                                 events: list[str] | None, *, allow_private: bool) -> tuple[WebhookEndpoint, str]:
    """`create_endpoint` for a URL whose host resolves to public addresses only (unless
    `allow_private`: webhooks.allow_private_targets): what the API and the dashboard create. The
    delivery checks again at each send (ssrf.py); this says so at once, as an InvalidField."""
    check_url(url)
    try:
        await check_target(url, allow_private=allow_private)
    except UnsafeTarget as exc:
        raise InvalidField(str(exc), "url") from None
    return await create_endpoint(session, box, merchant_id, url, events)


async def rotate_secret(session: AsyncSession, box: SecretBox, merchant_id: str, endpoint_id: str) -> tuple[WebhookEndpoint, str]:
    """A new signing secret; the old one keeps signing too (two signatures) for 24 hours."""
    endpoint = await get_endpoint(session, merchant_id, endpoint_id)
    secret = new_signing_secret()
    endpoint.previous_secret_ciphertext = endpoint.secret_ciphertext
    endpoint.previous_secret_expires_at = utcnow() + ROTATION_OVERLAP
    endpoint.secret_ciphertext = box.seal(secret)
    await session.flush()
    return endpoint, secret


async def get_endpoint(session: AsyncSession, merchant_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = await session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id,
                                                                  WebhookEndpoint.merchant_id == merchant_id))
    if endpoint is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    return endpoint


async def list_endpoints(session: AsyncSession, merchant_id: str) -> list[WebhookEndpoint]:
    return list(await session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.merchant_id == merchant_id)
                                      .order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id.desc())))


async def delete_endpoint(session: AsyncSession, merchant_id: str, endpoint_id: str) -> None:
    await session.delete(await get_endpoint(session, merchant_id, endpoint_id))


async def set_enabled(session: AsyncSession, merchant_id: str, endpoint_id: str, enabled: bool) -> WebhookEndpoint:
    """Disable an endpoint (nothing is delivered to it) or enable it again: its failure clock
    restarts and the deliveries it was owed resume; events of while it was disabled were not queued
    for it (redeliver those)."""
    endpoint = await get_endpoint(session, merchant_id, endpoint_id)
    if enabled and endpoint.status != "enabled":
        endpoint.status, endpoint.disabled_at, endpoint.failing_since = "enabled", None, None
    elif not enabled and endpoint.status == "enabled":
        endpoint.status, endpoint.disabled_at = "disabled", utcnow()
    await session.flush()
    return endpoint
