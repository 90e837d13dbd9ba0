"""POST/GET /v1/payouts: the scope `payouts`, validation naming the field with nothing recorded,
idempotency, a merchant sees only its own payouts, and the stored row is sealed by the API."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ctrip_core.db.models import Payout
from ctrip_core.services.payouts.authorization import sealed_by_api
from ctrip_core.services.webhooks.secret_box import SecretBox
from testbed import key_headers

TO = "0x00bEE00000000000000000000000000000000001"
PAYOUT = {"chain": "anvil", "asset": "TUSD", "address": TO.lower(), "amount": "12.5", "reference": "wd-1"}


async def _count(runtime) -> int:
    async with runtime.sessions() as session:
        return await session.scalar(select(func.count()).select_from(Payout))


async def test_a_payout_is_created_sealed_and_read_back(client, runtime, merchant):
    headers = await key_headers(runtime, merchant["id"], ["read", "payouts"])
    response = await client.post("/v1/payouts", json=PAYOUT, headers=headers)
    assert response.status_code == 201, await response.get_data()
    created = await response.get_json()
    assert created["id"].startswith("po_") and created["object"] == "payout"
    assert (created["status"], created["amount"], created["amount_base_units"]) == ("pending", "12.5", "12500000")
    assert created["address"].lower() == TO.lower() and created["tx_hash"] is None
    assert created["reference"] == "wd-1" and created["failure_reason"] is None

    got = await (await client.get(f"/v1/payouts/{created['id']}", headers=headers)).get_json()
    assert got == created
    listed = await (await client.get("/v1/payouts?status=pending", headers=headers)).get_json()
    assert [p["id"] for p in listed["data"]] == [created["id"]] and listed["has_more"] is False
    async with runtime.sessions() as session:
        row = await session.get(Payout, created["id"])
    assert sealed_by_api(SecretBox.from_settings(runtime.settings), row)


async def test_the_default_key_cannot_pay_out(client, runtime, merchant):
    before = await _count(runtime)
    response = await client.post("/v1/payouts", json=PAYOUT, headers=merchant["headers"])
    assert response.status_code == 403
    error = (await response.get_json())["error"]
    assert error["code"] == "missing_scope" and "'payouts'" in error["message"]
    assert await _count(runtime) == before


@pytest.mark.parametrize("change, field", [
    ({"address": "0x1234"}, "address"),
    ({"address": "0x00BEE00000000000000000000000000000000001".replace("BEE", "BeE")}, "address"),
    ({"amount": "1.1234567"}, "amount"),  # TUSD has 6 decimals
    ({"amount": "0"}, "amount"),
    ({"amount": "-1"}, "amount"),
    ({"asset": "DOGE"}, "asset"),
    ({"chain": "nochain"}, "chain"),
])
async def test_bad_input_is_422_naming_the_field_and_records_nothing(client, runtime, merchant, change, field):
    headers = await key_headers(runtime, merchant["id"], ["payouts"])
    before = await _count(runtime)
    response = await client.post("/v1/payouts", json=PAYOUT | change, headers=headers)
    assert response.status_code == 422, await response.get_data()
    body = await response.get_json()
    assert field in str(body["error"])
    assert await _count(runtime) == before


async def test_an_idempotency_key_makes_one_payout(client, runtime, merchant):
    headers = await key_headers(runtime, merchant["id"], ["payouts"]) | {"Idempotency-Key": "payout-once"}
    before = await _count(runtime)
    first = await client.post("/v1/payouts", json=PAYOUT, headers=headers)
    second = await client.post("/v1/payouts", json=PAYOUT, headers=headers)
    assert first.status_code == second.status_code == 201
    assert (await first.get_json())["id"] == (await second.get_json())["id"]
    assert await _count(runtime) == before + 1


async def test_a_merchant_sees_only_its_own_payouts(client, runtime, merchant, other_merchant):
    mine = await (await client.post("/v1/payouts", json=PAYOUT,
                                    headers=await key_headers(runtime, merchant["id"], ["payouts"]))).get_json()
    theirs = await key_headers(runtime, other_merchant["id"], ["read", "payouts"])
    assert (await client.get(f"/v1/payouts/{mine['id']}", headers=theirs)).status_code == 404
    listed = await (await client.get("/v1/payouts", headers=theirs)).get_json()
    assert mine["id"] not in [p["id"] for p in listed["data"]]


async def test_a_batch_is_all_or_nothing_and_names_the_refused_item(client, runtime, merchant):
    headers = await key_headers(runtime, merchant["id"], ["read", "payouts"])
    items = [PAYOUT | {"amount": str(n), "reference": f"b-{n}"} for n in (1, 2, 3)]
    before = await _count(runtime)
    response = await client.post("/v1/payout-batches", json={"items": [*items, PAYOUT | {"address": "0x12"}]},
                                 headers=headers)
    assert response.status_code == 422 and "items[3].address" in str(await response.get_json())
    assert await _count(runtime) == before  # none of the good items either
    response = await client.post("/v1/payout-batches", json={"items": [PAYOUT] * 101}, headers=headers)
    assert response.status_code == 422 and await _count(runtime) == before

    response = await client.post("/v1/payout-batches", json={"items": items}, headers=headers)
    assert response.status_code == 201, await response.get_data()
    batch = await response.get_json()
    assert batch["id"].startswith("pob_") and batch["object"] == "payout_batch"
    assert [p["amount"] for p in batch["payouts"]] == ["1", "2", "3"]
    assert {p["batch_id"] for p in batch["payouts"]} == {batch["id"]}
    got = await (await client.get(f"/v1/payout-batches/{batch['id']}", headers=headers)).get_json()
    assert sorted(p["id"] for p in got["payouts"]) == sorted(p["id"] for p in batch["payouts"])
    listed = await (await client.get(f"/v1/payouts?batch_id={batch['id']}", headers=headers)).get_json()
    assert len(listed["data"]) == 3
    assert (await client.get("/v1/payout-batches/pob_none", headers=headers)).status_code == 404
    assert (await client.post("/v1/payout-batches", json={"items": items},
                              headers=merchant["headers"])).status_code == 403
