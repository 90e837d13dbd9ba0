"""`ctrip dev --receiver`: a local webhook endpoint that prints every delivery and checks its signature.

So a newcomer sees what a merchant's server would receive, signed per Standard Webhooks, without
writing one. The endpoint is registered for the dev merchant on start (replacing older ones).
"""

from __future__ import annotations

import hmac
import json

from quart import Quart, request
from sqlalchemy import select

from ctrip_core.db.models import WebhookEndpoint
from ctrip_core.services.webhooks.signing import signature
from ctrip_core.services.webhooks.secret_box import SecretBox
from ctrip_core.services.webhooks.endpoints import create_endpoint, delete_endpoint

RECEIVER_PATH = "/dev-webhooks"


def verified(secret: str, headers, body: bytes) -> bool:
    msg_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "0")
    expected = signature(secret, msg_id, int(timestamp) if timestamp.isdigit() else 0, body)
    return any(hmac.compare_digest(expected, s) for s in headers.get("webhook-signature", "").split())


def receiver_app(secret: str) -> Quart:
    app = Quart("ctrip_core.devnet.receiver")

    @app.post(RECEIVER_PATH)
    async def receive():
        body = await request.get_data()
        event = json.loads(body)
        data = event.get("data", {})
        mark = "signature ok" if verified(secret, request.headers, body) else "SIGNATURE INVALID"
        print(f"webhook  {event.get('type'):<18} {data.get('id')}  status={data.get('status')}  "
              f"received={data.get('amount_received')} {data.get('asset')}  sweep={data.get('sweep', {}).get('state')}"
              f"  ({mark})", flush=True)
        return {"ok": True}

    return app


async def _remove_receivers(session, merchant_id: str) -> int:
    old = await session.scalars(select(WebhookEndpoint.id).where(WebhookEndpoint.merchant_id == merchant_id,
                                                                 WebhookEndpoint.url.like(f"%{RECEIVER_PATH}")))
    removed = list(old)
    for endpoint_id in removed:
        await delete_endpoint(session, merchant_id, endpoint_id)
    return len(removed)


async def remove_receivers(runtime, merchant_id: str) -> int:
    """Delete the dev merchant's receiver endpoints (at exit, and at start for one left by a killed run)."""
    async with runtime.sessions() as session, session.begin():
        return await _remove_receivers(session, merchant_id)


async def register_receiver(runtime, merchant_id: str, url: str) -> str:
    """(Re)create the dev merchant's receiver endpoint at `url`; returns its signing secret."""
    box = SecretBox.from_settings(runtime.settings)
    async with runtime.sessions() as session, session.begin():
        await _remove_receivers(session, merchant_id)
        _, secret = await create_endpoint(session, box, merchant_id, url, None)
    return secret
