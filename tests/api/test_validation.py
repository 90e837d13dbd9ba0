"""Input validation of the payments API: every bad input is a 4xx in the one error shape, never a 500."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from eth_utils import is_checksum_address
from sqlalchemy import update

from ctrip_core.db.models import Payment
from ctrip_core.services.payments.operations import list_payments

BASE = {"chain": "anvil", "asset": "TUSD", "amount": "12.50"}
MAX_UINT256 = 2**256 - 1


def _error(body: dict) -> dict:
    """The error object, after checking the shape {"error": {"code", "message", "field"?}}."""
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "field"}, error
    return error


async def _create(client, merchant, **changes):
    body = {**BASE, **changes}
    return await client.post("/v1/payments", json=body, headers=merchant["headers"])


async def _assert_422(response, field: str) -> dict:
    assert response.status_code == 422, await response.get_data()
    error = _error(await response.get_json())
    assert error["field"] == field, error
    return error


# --- amount ---------------------------------------------------------------------------------------

BAD_AMOUNTS = [
    pytest.param(12.5, "TUSD", id="json-float"),
    pytest.param(12, "TUSD", id="json-int"),
    pytest.param(True, "TUSD", id="json-bool"),
    pytest.param(None, "TUSD", id="null"),
    pytest.param("-1", "TUSD", id="negative"),
    pytest.param("0", "TUSD", id="zero"),
    pytest.param("0.000", "TUSD", id="zero-with-decimals"),
    pytest.param("1e3", "TUSD", id="exponent"),
    pytest.param("1E3", "TUSD", id="exponent-upper"),
    pytest.param("1.0000001", "TUSD", id="7-decimals-on-6"),
    pytest.param("0.0000000000000000001", "ETH", id="19-decimals-on-18"),
    pytest.param(str(MAX_UINT256 + 1), "TUSD", id="above-uint256-base-units"),
    pytest.param(str(MAX_UINT256 // 10**6 + 1), "TUSD", id="above-uint256-after-scaling"),
    pytest.param("+1", "TUSD", id="leading-plus"),
    pytest.param(" 1", "TUSD", id="leading-space"),
    pytest.param("1 ", "TUSD", id="trailing-space"),
    pytest.param("1 000", "TUSD", id="inner-space"),
    pytest.param("12\n", "TUSD", id="trailing-newline"),  # a `$` anchor would take it
    pytest.param("", "TUSD", id="empty"),
    pytest.param("1.", "TUSD", id="trailing-dot"),
    pytest.param(".5", "TUSD", id="leading-dot"),
    pytest.param("01", "TUSD", id="leading-zero"),
    pytest.param("1,5", "TUSD", id="comma"),
    pytest.param("0x10", "TUSD", id="hex"),
    pytest.param("NaN", "TUSD", id="nan"),
    pytest.param("Infinity", "TUSD", id="infinity"),
    pytest.param("١٢", "TUSD", id="non-ascii-digits"),
    pytest.param("1" * 101, "TUSD", id="too-long"),
    pytest.param(["1"], "TUSD", id="list"),
]


@pytest.mark.parametrize(("amount", "asset"), BAD_AMOUNTS)
async def test_bad_amount_is_422_on_amount(client, merchant, amount, asset):
    await _assert_422(await _create(client, merchant, amount=amount, asset=asset), "amount")


async def test_largest_amount_fits_uint256(client, merchant):
    largest = f"{MAX_UINT256 // 10**6}.{MAX_UINT256 % 10**6:06d}"
    response = await _create(client, merchant, amount=largest)
    assert response.status_code == 201, await response.get_data()
    assert (await response.get_json())["amount_base_units"] == str(MAX_UINT256)


# --- chain, asset, expires_in -----------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "field"), [
    pytest.param({"chain": "mainnet"}, "chain", id="unknown-chain"),
    pytest.param({"chain": ""}, "chain", id="empty-chain"),
    pytest.param({"chain": 1}, "chain", id="numeric-chain"),
    pytest.param({"asset": "DOGE"}, "asset", id="unknown-asset"),
    pytest.param({"asset": "tusd"}, "asset", id="asset-wrong-case"),
    pytest.param({"asset": None}, "asset", id="null-asset"),
    pytest.param({"expires_in": 59}, "expires_in", id="expires-below-min"),
    pytest.param({"expires_in": 604801}, "expires_in", id="expires-above-max"),
    pytest.param({"expires_in": 0}, "expires_in", id="expires-zero"),
    pytest.param({"expires_in": -60}, "expires_in", id="expires-negative"),
    pytest.param({"expires_in": "3600"}, "expires_in", id="expires-string"),
    pytest.param({"expires_in": 3600.0}, "expires_in", id="expires-float"),
    pytest.param({"expires_in": 3600.5}, "expires_in", id="expires-fraction"),
    pytest.param({"expires_in": True}, "expires_in", id="expires-bool"),
    pytest.param({"expires_in": 10**30}, "expires_in", id="expires-huge"),
    pytest.param({"order_id": "x" * 201}, "order_id", id="order-id-too-long"),
    pytest.param({"order_id": 7}, "order_id", id="order-id-number"),
    pytest.param({"redirect_url": "javascript:alert(1)"}, "redirect_url", id="redirect-not-http"),
])
async def test_bad_field_is_422_naming_it(client, merchant, changes, field):
    await _assert_422(await _create(client, merchant, **changes), field)


@pytest.mark.parametrize("field", ["chain", "asset", "amount"])
async def test_missing_required_field_is_422(client, merchant, field):
    body = {k: v for k, v in BASE.items() if k != field}
    response = await client.post("/v1/payments", json=body, headers=merchant["headers"])
    await _assert_422(response, field)


@pytest.mark.parametrize("expires_in", [60, 604800])
async def test_expiry_bounds_are_inclusive(client, merchant, expires_in):
    response = await _create(client, merchant, expires_in=expires_in)
    assert response.status_code == 201, await response.get_data()


async def test_order_id_of_200_chars_is_accepted(client, merchant):
    response = await _create(client, merchant, order_id="o" * 200)
    assert response.status_code == 201 and (await response.get_json())["order_id"] == "o" * 200


# --- metadata ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("metadata", [
    pytest.param({"cart": {"id": "7"}}, id="nested-object"),
    pytest.param({"cart": 7}, id="number-value"),
    pytest.param({"cart": None}, id="null-value"),
    pytest.param({"cart": ["7"]}, id="list-value"),
    pytest.param({"k" * 41: "v"}, id="key-41-chars"),
    pytest.param({"": "v"}, id="empty-key"),
    pytest.param({"k": "v" * 501}, id="value-501-chars"),
    pytest.param({f"k{i}": "v" for i in range(51)}, id="51-keys"),
    pytest.param(["a", "b"], id="list"),
    pytest.param("cart=7", id="string"),
])
async def test_bad_metadata_is_422_on_metadata(client, merchant, metadata):
    response = await _create(client, merchant, metadata=metadata)
    assert response.status_code == 422, await response.get_data()
    assert _error(await response.get_json())["field"].startswith("metadata")


async def test_metadata_at_the_limits_is_accepted(client, merchant):
    metadata = {f"{i:02d}" + "k" * 38: "v" * 500 for i in range(50)}
    response = await _create(client, merchant, metadata=metadata)
    assert response.status_code == 201, await response.get_data()
    assert (await response.get_json())["metadata"] == metadata


# --- body shape, content type, size -------------------------------------------------------------------

async def test_unknown_field_is_422(client, merchant):
    await _assert_422(await _create(client, merchant, currency="USD"), "currency")


@pytest.mark.parametrize("body", [b"[]", b'[{"chain": "anvil"}]', b'"text"', b"7", b"null"])
async def test_json_that_is_not_an_object_is_422(client, merchant, body):
    response = await client.post("/v1/payments", data=body, headers={**merchant["headers"],
                                                                     "Content-Type": "application/json"})
    assert response.status_code == 422, await response.get_data()
    _error(await response.get_json())


@pytest.mark.parametrize("body", [b"{", b'{"chain": }', b"{'chain': 'anvil'}", b"\xff\xfe", b""])
async def test_malformed_json_is_400(client, merchant, body):
    response = await client.post("/v1/payments", data=body, headers={**merchant["headers"],
                                                                     "Content-Type": "application/json"})
    assert response.status_code == 400, await response.get_data()
    _error(await response.get_json())


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
async def test_wrong_content_type_is_400(client, merchant, content_type):
    response = await client.post("/v1/payments", data=json.dumps(BASE).encode(),
                                 headers={**merchant["headers"], "Content-Type": content_type})
    assert response.status_code == 400, await response.get_data()
    assert _error(await response.get_json())["code"] == "unsupported_content_type"


async def test_form_post_is_400(client, merchant):
    response = await client.post("/v1/payments", form=BASE, headers=merchant["headers"])
    assert response.status_code == 400, await response.get_data()
    _error(await response.get_json())


async def test_body_over_64_kib_is_413(client, merchant):
    body = json.dumps({**BASE, "order_id": "x" * (65 * 1024)}).encode()
    response = await client.post("/v1/payments", data=body, headers={**merchant["headers"],
                                                                     "Content-Type": "application/json"})
    assert response.status_code == 413, await response.get_data()
    assert _error(await response.get_json())["code"] == "payload_too_large"


async def test_body_over_64_kib_without_content_length_is_413(client, merchant):
    """A chunked body has no Content-Length: the limit still applies while reading."""
    body = json.dumps({**BASE, "order_id": "x" * (65 * 1024)}).encode()
    response = await client.post("/v1/payments", data=body,
                                 headers={**merchant["headers"], "Content-Type": "application/json",
                                          "Transfer-Encoding": "chunked"})
    assert response.status_code == 413, await response.get_data()
    _error(await response.get_json())


# --- list query -------------------------------------------------------------------------------------

@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "limit=-1", "limit=1.5", "limit="])
async def test_bad_limit_is_422(client, merchant, query):
    await _assert_422(await client.get(f"/v1/payments?{query}", headers=merchant["headers"]), "limit")


@pytest.mark.parametrize(("query", "field"), [
    ("starting_after=pay_nope", "starting_after"),
    ("status=paid", "status"),
    ("starting_after=" + "p" * 65, "starting_after"),
])
async def test_bad_list_filter_is_422(client, merchant, query, field):
    await _assert_422(await client.get(f"/v1/payments?{query}", headers=merchant["headers"]), field)


async def test_list_pages_newest_first_with_has_more(client, merchant):
    ids = []
    for i in range(5):
        created = await _create(client, merchant, order_id=f"page-{i}")
        assert created.status_code == 201
        ids.append((await created.get_json())["id"])
    seen, cursor, pages = [], None, []
    while True:
        query = "limit=2" + (f"&starting_after={cursor}" if cursor else "")
        page = await (await client.get(f"/v1/payments?{query}", headers=merchant["headers"])).get_json()
        pages.append((len(page["data"]), page["has_more"]))
        seen += [p["id"] for p in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert seen == list(reversed(ids))
    assert pages == [(2, True), (2, True), (1, False)]


async def test_list_filters_by_status_chain_and_order_id(client, merchant):
    first = await (await _create(client, merchant, order_id="F-1")).get_json()
    second = await (await _create(client, merchant, order_id="F-2")).get_json()
    await client.post(f"/v1/payments/{first['id']}/cancel", headers=merchant["headers"])

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/v1/payments?{query}", headers=merchant["headers"])
        assert response.status_code == 200, await response.get_data()
        return [p["id"] for p in (await response.get_json())["data"]]

    assert await ids("status=canceled") == [first["id"]]
    assert await ids("status=pending") == [second["id"]]
    assert await ids("chain=anvil") == [second["id"], first["id"]]
    assert await ids("chain=other") == []
    assert await ids("order_id=F-2") == [second["id"]]
    assert await ids("order_id=F-2&status=canceled") == []


async def test_list_payments_filters_by_asset_and_creation_time(client, merchant, runtime):
    """The service's own filters (the dashboard's, not /v1/payments'): the asset, and created_at in a
    half-open range [created_from, created_before); a cursor within a range, through equal created_at."""
    eth = (await (await _create(client, merchant, asset="ETH", amount="0.1")).get_json())["id"]
    tusd = (await (await _create(client, merchant)).get_json())["id"]
    tied = (await (await _create(client, merchant)).get_json())["id"]
    day1, day2 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    async with runtime.sessions() as session, session.begin():
        for payment_id, at in ((eth, day1), (tusd, day2), (tied, day2)):
            await session.execute(update(Payment).where(Payment.id == payment_id).values(created_at=at))
    newest_second = sorted([tusd, tied], reverse=True)  # equal created_at: the greater id first

    async def ids(**filters) -> list[str]:
        async with runtime.read_sessions() as session:
            rows, _ = await list_payments(session, merchant["id"], **filters)
        return [p.id for p in rows]

    assert await ids(asset="ETH") == [eth]
    assert await ids(asset="TUSD") == newest_second
    assert await ids(asset="BNB") == []
    assert await ids(created_from=day1) == [*newest_second, eth]
    assert await ids(created_from=day2) == newest_second  # from: inclusive
    assert await ids(created_before=day2) == [eth]  # before: exclusive
    assert await ids(created_from=day1, created_before=day1 + timedelta(microseconds=1)) == [eth]
    assert await ids(created_from=day2, created_before=day2) == []
    assert await ids(created_from=day1.astimezone(timezone(timedelta(hours=5))), created_before=day2) == [eth]
    assert await ids(asset="TUSD", created_before=day2) == []
    assert await ids(asset="ETH", status="pending", chain="anvil", created_from=day1) == [eth]
    assert await ids(created_from=day1, starting_after=newest_second[0]) == [newest_second[1], eth]
    assert await ids(created_from=day2, starting_after=newest_second[0]) == [newest_second[1]]
    assert await ids(asset="ETH", starting_after=newest_second[1]) == [eth]
    async with runtime.read_sessions() as session:
        rows, has_more = await list_payments(session, merchant["id"], created_from=day1, limit=1,
                                             starting_after=newest_second[0])
    assert ([p.id for p in rows], has_more) == ([newest_second[1]], True)


# --- the payment object -----------------------------------------------------------------------------

PAYMENT_FIELDS = {"id", "object", "status", "chain", "chain_id", "asset", "token_address", "decimals", "amount",
                  "amount_base_units", "amount_received", "amount_received_base_units", "address", "payment_uri",
                  "confirmations_required", "order_id", "metadata", "created_at", "expires_at", "overpaid", "late",
                  "redirect_url", "transfers", "sweep"}


async def test_token_payment_object_has_every_field(client, merchant, token):
    response = await _create(client, merchant, amount="0.000001", order_id="O-1", metadata={"a": "b"},
                             expires_in=120)
    assert response.status_code == 201
    p = await response.get_json()
    assert set(p) >= PAYMENT_FIELDS
    assert p["id"].startswith("pay_") and len(p["id"]) > len("pay_") + 8
    assert p["object"] == "payment" and p["status"] == "pending"
    assert p["chain"] == "anvil" and p["chain_id"] == 31337 and isinstance(p["chain_id"], int)
    assert p["asset"] == "TUSD" and p["token_address"].lower() == token.lower() and p["decimals"] == 6
    assert p["amount"] == "0.000001" and p["amount_base_units"] == "1"
    assert p["amount_received"] == "0" and p["amount_received_base_units"] == "0"
    assert is_checksum_address(p["address"])
    assert p["payment_uri"] == f"ethereum:{p['token_address']}@31337/transfer?address={p['address']}&uint256=1"
    assert p["confirmations_required"] == 1
    assert p["order_id"] == "O-1" and p["metadata"] == {"a": "b"}
    assert p["created_at"].endswith("Z") and p["expires_at"].endswith("Z")
    assert p["overpaid"] is False and p["late"] is False
    assert p["transfers"] == [] and p["sweep"] == {"state": "none", "tx_hashes": []}


async def test_native_payment_has_18_decimals_and_value_uri(client, merchant):
    response = await _create(client, merchant, asset="ETH", amount="0.000000000000000001")
    assert response.status_code == 201, await response.get_data()
    p = await response.get_json()
    assert p["token_address"] is None and p["decimals"] == 18
    assert p["amount"] == "0.000000000000000001" and p["amount_base_units"] == "1"
    assert p["payment_uri"] == f"ethereum:{p['address']}@31337?value=1"
    big = await (await _create(client, merchant, asset="ETH", amount="1.5")).get_json()
    assert big["amount_base_units"] == "1500000000000000000" and big["amount"] == "1.5"


async def test_addresses_are_unique(client, merchant):
    addresses = []
    for _ in range(4):
        addresses.append((await (await _create(client, merchant)).get_json())["address"])
    assert len(set(addresses)) == 4 and all(is_checksum_address(a) for a in addresses)


# --- characters PostgreSQL cannot store ----------------------------------------------------------------

@pytest.mark.parametrize(("changes", "field"), [
    pytest.param({"order_id": "A\u0000"}, "order_id", id="order-id"),
    pytest.param({"chain": "anvil\u0000"}, "chain", id="chain"),
    pytest.param({"redirect_url": "https://shop.example/\u0000"}, "redirect_url", id="redirect-url"),
])
async def test_nul_character_in_body_is_422(client, merchant, changes, field):
    await _assert_422(await _create(client, merchant, **changes), field)


async def test_nul_character_in_metadata_is_422(client, merchant):
    response = await _create(client, merchant, metadata={"k": "v\u0000"})
    assert response.status_code == 422 and _error(await response.get_json())["field"].startswith("metadata")


@pytest.mark.parametrize(("path", "field"), [
    ("/v1/payments?order_id=%00", "order_id"),
    ("/v1/payments?chain=%00", "chain"),
    ("/v1/payments?starting_after=%00", "starting_after"),
    ("/v1/events?payment_id=%00", "payment_id"),
])
async def test_nul_character_in_query_is_422(client, merchant, path, field):
    await _assert_422(await client.get(path, headers=merchant["headers"]), field)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/payments/pay_%00"), ("POST", "/v1/payments/pay_%00/cancel"),
    ("GET", "/v1/webhook-endpoints/we_%00"), ("DELETE", "/v1/webhook-endpoints/we_%00"),
    ("POST", "/v1/events/evt_%00/redeliver"), ("GET", "/v1/payments/" + "p" * 5000),
])
async def test_odd_ids_in_the_path_are_404(client, merchant, method, path):
    response = await client.open(path, method=method, headers=merchant["headers"])
    assert response.status_code == 404, await response.get_data()
    assert _error(await response.get_json())["code"] == "not_found"
