"""Priced payments through the API (issue 18): `price` instead of `amount`, quoted at a rate locked at
creation and rounded up to the asset's decimals; 422 naming the field for bad input; 503
`rate_unavailable` when no fresh, agreeing rate can be had (never a stale or guessed one).

TUSD states `peg: USD` (the `fixed` provider); ETH's rate comes from a local server answering in
Coinbase's documented format. Paying the quoted amount confirms the payment, each transfer carrying
its value in the price's currency.
"""

from __future__ import annotations

import json

import pytest
import pytest_asyncio
from exchange_server import ExchangeServer

from ctrip_core.devnet.chains_yaml import TOKEN_DECIMALS, TOKEN_SYMBOL, anvil_chain, write_chains_file
from ctrip_core.devnet.accounts import FUNDER_KEY
from ctrip_core.devnet.payer import Payer
from ctrip_core.runtime import build_runtime
from ctrip_core.services.watching.confirming import confirm_step
from ctrip_core.services.watching.scanning import scan_chain
from testbed import make_settings, new_merchant

ETH_USD = "/v2/prices/ETH-USD/spot"
TUSD_USD = "/v2/prices/TUSD-USD/spot"


def coinbase(base: str, amount: str) -> tuple[int, str]:
    return 200, json.dumps({"data": {"amount": amount, "base": base, "currency": "USD"}})


@pytest.fixture(scope="module")
def exchange():
    server = ExchangeServer()
    yield server
    server.stop()


@pytest_asyncio.fixture(scope="module")
async def priced(node, tusd, module_database, exchange, tmp_path_factory):
    from ctrip_core.api import create_app

    entry = anvil_chain(node.rpc_url, tusd)
    entry["tokens"][0]["peg"] = "USD"
    chains = write_chains_file(tmp_path_factory.mktemp("priced") / "chains.yaml", {"anvil": entry})
    rt = build_runtime(make_settings(module_database, chains, rates={
        "providers": ["fixed", "coinbase"], "coinbase_url": exchange.url, "cache_s": 0}), "api")
    await scan_chain(rt, "anvil")
    merchant_id, key = await new_merchant(rt)
    yield {"rt": rt, "client": create_app(rt).test_client(), "headers": {"Authorization": f"Bearer {key}"},
           "payer": Payer(FUNDER_KEY, node.rpc_url), "tusd": tusd}
    await rt.close()


async def create(priced, **body):
    response = await priced["client"].post("/v1/payments", json={"chain": "anvil", **body}, headers=priced["headers"])
    return response.status_code, await response.get_json()


async def test_an_eth_price_is_quoted_at_the_rate_rounded_up_and_locked(priced, exchange):
    exchange.answers[ETH_USD] = coinbase("ETH", "3000.00")
    exchange.answers.pop(TUSD_USD, None)
    status, body = await create(priced, asset="ETH", price={"amount": "25.00", "currency": "USD"})
    assert status == 201, body
    assert body["amount_base_units"] == str(-(-25 * 10**18 // 3000))  # 0.008333… ETH, the last wei up
    assert body["price"] == {"amount": "25", "currency": "USD"}
    assert body["rate"]["value"] == "3000.00" and body["rate"]["currency"] == "USD"
    assert body["rate"]["source"] == "coinbase" and body["rate"]["at"].endswith("Z")
    created, expires = body["created_at"], body["expires_at"]
    assert _seconds(expires) - _seconds(created) == 900  # priced: 15 minutes unless expires_in says

    exchange.answers[ETH_USD] = coinbase("ETH", "1.00")  # the market moves: the payment's rate does not
    got = await (await priced["client"].get(f"/v1/payments/{body['id']}", headers=priced["headers"])).get_json()
    assert got["amount_base_units"] == body["amount_base_units"] and got["rate"] == body["rate"]


async def test_a_pegged_token_is_quoted_at_its_peg_and_paid_transfers_carry_their_value(priced, exchange):
    exchange.answers[TUSD_USD] = coinbase(TOKEN_SYMBOL, "0.9995")  # within rates.max_depeg: the peg holds
    status, body = await create(priced, asset=TOKEN_SYMBOL, price={"amount": "12.34", "currency": "USD"},
                                expires_in=3600)
    assert status == 201, body
    assert body["amount_base_units"] == str(12_340_000) and body["rate"]["source"] == "fixed"
    payer, rt = priced["payer"], priced["rt"]
    payer.wait([payer.token(priced["tusd"], body["address"], 10_000_000), payer.token(priced["tusd"], body["address"],
                                                                                       2_340_000)])
    await scan_chain(rt, "anvil")
    await confirm_step(rt, "anvil")
    got = await (await priced["client"].get(f"/v1/payments/{body['id']}", headers=priced["headers"])).get_json()
    assert got["status"] == "confirmed"
    assert sorted(t["value"] for t in got["transfers"]) == ["10", "2.34"]


async def test_a_broken_peg_is_not_quoted(priced, exchange):
    exchange.answers[TUSD_USD] = coinbase(TOKEN_SYMBOL, "0.95")  # 5% off, rates.max_depeg is 2%
    status, body = await create(priced, asset=TOKEN_SYMBOL, price={"amount": "10.00", "currency": "USD"})
    assert status == 503 and body["error"]["code"] == "rate_unavailable", body
    assert "TUSD/USD" in body["error"]["message"] and "off by" in body["error"]["message"]


async def test_no_fresh_rate_is_a_503_naming_the_pair_and_amount_payments_go_on(priced, exchange):
    exchange.answers[ETH_USD] = (500, "{}")
    status, body = await create(priced, asset="ETH", price={"amount": "25.00", "currency": "USD"})
    assert status == 503 and body["error"]["code"] == "rate_unavailable" and "ETH/USD" in body["error"]["message"]
    status, _ = await create(priced, asset="ETH", amount="0.01")  # a provider outage never blocks amounts
    assert status == 201


@pytest.mark.parametrize(("body", "field"), [
    ({"asset": "ETH"}, "amount"),  # neither
    ({"asset": "ETH", "amount": "1", "price": {"amount": "1", "currency": "USD"}}, "price"),  # both
    ({"asset": "ETH", "price": {"amount": "1", "currency": "XYZ"}}, "price.currency"),
    ({"asset": "ETH", "price": {"amount": "1", "currency": "JPY"}}, "price.currency"),  # not in rates.currencies
    ({"asset": "ETH", "price": {"amount": "1.001", "currency": "USD"}}, "price.amount"),  # more than cents
    ({"asset": "ETH", "price": {"amount": "0", "currency": "USD"}}, "price.amount"),
    ({"asset": "ETH", "price": {"amount": "-1", "currency": "USD"}}, "price.amount"),
    ({"asset": "ETH", "price": {"amount": 25, "currency": "USD"}}, "price.amount"),  # a JSON number
    ({"asset": "ETH", "price": {"amount": "1"}}, "price.currency"),
    ({"asset": "ETH", "price": {"amount": "1", "currency": "USD", "x": 1}}, "price.x"),
    ({"asset": "ETH", "price": {"amount": "1", "currency": "USD"}, "expires_in": 86401}, "expires_in"),  # rate risk
])
async def test_bad_price_input_is_a_422_naming_the_field(priced, exchange, body, field):
    exchange.answers[ETH_USD] = coinbase("ETH", "3000.00")
    status, answer = await create(priced, **body)
    assert status == 422, answer
    assert answer["error"]["field"] == field, answer


def _seconds(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_the_token_of_these_tests_has_six_decimals():
    assert TOKEN_DECIMALS == 6  # the quotes above are written for it
