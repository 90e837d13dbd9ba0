"""POST /v1/payments/{id}/refunds and GET /v1/refunds: scopes (`refunds`; another address needs
`payouts`), 404 for another merchant's payment, 409 when nothing was received, nothing recorded on
refusal. What a refund sends is tested on Anvil (tests/sweeps/test_refunds.py)."""

from __future__ import annotations

from sqlalchemy import func, select

from ctrip_core.db.models import Payout
from testbed import key_headers

PAYMENT = {"chain": "anvil", "asset": "TUSD", "amount": "5"}
ELSEWHERE = "0x00bee00000000000000000000000000000000077"


async def _refunds(runtime) -> int:
    async with runtime.sessions() as session:
        return await session.scalar(select(func.count()).select_from(Payout).where(Payout.payment_id.is_not(None)))


async def _payment(client, merchant) -> str:
    response = await client.post("/v1/payments", json=PAYMENT, headers=merchant["headers"])
    return (await response.get_json())["id"]


async def test_refund_routes_need_their_scopes_and_refuse_before_recording(client, runtime, merchant, other_merchant):
    payment_id = await _payment(client, merchant)
    url = f"/v1/payments/{payment_id}/refunds"
    before = await _refunds(runtime)

    response = await client.post(url, json={}, headers=merchant["headers"])  # read + payments only
    assert response.status_code == 403 and "'refunds'" in (await response.get_json())["error"]["message"]

    refunds_only = await key_headers(runtime, merchant["id"], ["refunds"])
    response = await client.post(url, json={"address": ELSEWHERE}, headers=refunds_only)
    error = (await response.get_json())["error"]
    assert response.status_code == 403 and error["code"] == "missing_scope" and "'payouts'" in error["message"]

    response = await client.post(url, json={}, headers=refunds_only)
    assert response.status_code == 409 and "nothing to refund" in (await response.get_json())["error"]["message"]
    response = await client.post(url, json={"address": "0x12"}, headers=refunds_only)
    assert response.status_code == 422 and "address" in str(await response.get_json())

    theirs = await key_headers(runtime, other_merchant["id"], ["refunds", "payouts"])
    assert (await client.post(url, json={}, headers=theirs)).status_code == 404
    assert await _refunds(runtime) == before


async def test_refunds_are_listed_per_payment_and_not_as_payouts(client, runtime, merchant):
    headers = await key_headers(runtime, merchant["id"], ["read"])
    listed = await (await client.get("/v1/refunds?payment_id=pay_none", headers=headers)).get_json()
    assert listed == {"object": "list", "data": [], "has_more": False}
    assert (await client.get("/v1/refunds/rf_none", headers=headers)).status_code == 404
