"""One event from commit to a real receiver, verified by the independent `standardwebhooks` package."""

import json

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from ctrip_core.plugins import collect_notifiers
from ctrip_core.services.webhooks.secret_box import SecretBox
from ctrip_core.services.webhooks import endpoints as webhook_endpoints
from ctrip_core.services.webhooks.delivery_sender import deliver_due
from ctrip_core.services.outbox.dispatch import dispatch_events
from ctrip_core.services.payments.operations import PaymentRequest, cancel_payment, create_payment
from receiver import Receiver


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


async def test_canceled_event_is_delivered_signed(runtime, merchant, receiver):
    box = SecretBox.from_settings(runtime.settings)
    async with runtime.sessions() as s, s.begin():
        _, secret = await webhook_endpoints.create_endpoint(s, box, merchant["id"], receiver.url, None)
        p = await create_payment(runtime, merchant["id"], PaymentRequest("anvil", "ETH", "1"), within=s)
    async with runtime.sessions() as s, s.begin():
        await cancel_payment(s, merchant["id"], p.id)
    notifiers = collect_notifiers(runtime.pm, runtime.settings)
    assert await dispatch_events(runtime, notifiers) >= 1
    async with httpx.AsyncClient() as http:
        assert await deliver_due(runtime, http) >= 1
    mine = [(h, b) for h, b in receiver.requests if json.loads(b)["data"]["id"] == p.id]
    assert len(mine) == 1
    headers, body = mine[0]
    payload = Webhook(secret).verify(body, headers)
    assert payload["type"] == "payment.canceled" and payload["data"]["status"] == "canceled"
    assert headers["webhook-id"] == payload["id"]
