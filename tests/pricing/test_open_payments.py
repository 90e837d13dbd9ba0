"""Open payments (issue 18) on two Anvil chains: a price and neither chain nor asset. The payment lists
an option per configured asset with a fresh rate (chain, asset, quoted amount, EIP-681 URI, locked
rate); whatever accepted asset arrives on whichever chain is valued at its option's locked rate; paid
half in one token on one chain and half in another on the other, it is confirmed on the sum.

anvil: TUSD (6 decimals, peg USD) and ETH (no rate: not an option); sepolia (a second Anvil):
DUSD (18 decimals, peg USD).
"""

from __future__ import annotations

import pytest
import pytest_asyncio
from sqlalchemy import select

from ctrip_core.db.models import Event, Payment
from ctrip_core.devnet.accounts import FUNDER, FUNDER_KEY, GATEWAY_MNEMONIC, GATEWAY_XPUB, TREASURY
from ctrip_core.devnet.anvil import AnvilNode
from ctrip_core.devnet.chains_yaml import anvil_chain, write_chains_file
from ctrip_core.devnet.payer import Payer
from ctrip_core.devnet.token import deploy_test_token, mint
from ctrip_core.runtime import build_runtime
from ctrip_core.services.sweeps.keys import SweepKeys
from ctrip_core.services.sweeps.sweep_pass import sweep_pass
from ctrip_core.services.watching.confirming import confirm_step
from ctrip_core.services.watching.scanning import scan_chain
from testbed import create_database, deploy_funded_token, drop_database, make_settings, new_merchant

pytestmark = pytest.mark.timeout(120)
SEPOLIA = 11155111


@pytest.fixture(scope="module")
def nodes():
    home, other = AnvilNode.start(), AnvilNode.start(chain_id=SEPOLIA)
    yield home, other
    home.stop()
    other.stop()


@pytest_asyncio.fixture(scope="module")
async def gw(nodes, tmp_path_factory):
    from ctrip_core.api import create_app

    home, other = nodes
    tusd = deploy_funded_token(home.rpc_url)
    dusd = deploy_test_token(other.rpc_url, FUNDER_KEY, decimals=18)
    mint(other.rpc_url, FUNDER_KEY, dusd, FUNDER, 10**30)
    anvil = anvil_chain(home.rpc_url, tusd)
    anvil["tokens"][0]["peg"] = "USD"
    chains_file = write_chains_file(tmp_path_factory.mktemp("open") / "chains.yaml", {
        "anvil": anvil,
        "sepolia": anvil_chain(other.rpc_url, chain_id=SEPOLIA, adapter="ethereum",
                               tokens=[{"symbol": "DUSD", "address": dusd, "decimals": 18, "peg": "USD"}])})
    url = create_database()
    rt = build_runtime(make_settings(url, chains_file, wallet={"xpub": GATEWAY_XPUB, "mnemonic": GATEWAY_MNEMONIC}),
                       "sweeper")
    for chain in ("anvil", "sepolia"):
        await scan_chain(rt, chain)
    keys = SweepKeys.from_settings(rt.settings, rt.chain_configs())
    other.rpc("anvil_setBalance", keys.tank_address("sepolia"), hex(10 * 10**18))
    merchant_id, key = await new_merchant(rt)
    yield {"rt": rt, "client": create_app(rt).test_client(), "headers": {"Authorization": f"Bearer {key}"},
           "keys": keys, "tusd": tusd, "dusd": dusd, "nodes": nodes,
           "home": Payer(FUNDER_KEY, home.rpc_url), "other": Payer(FUNDER_KEY, other.rpc_url)}
    await rt.close()
    drop_database(url)


async def create(gw, **body):
    response = await gw["client"].post("/v1/payments", json=body, headers=gw["headers"])
    return response.status_code, await response.get_json()


async def get(gw, payment_id):
    return await (await gw["client"].get(f"/v1/payments/{payment_id}", headers=gw["headers"])).get_json()


async def sync(rt, chain):
    await scan_chain(rt, chain)
    await confirm_step(rt, chain)


async def test_an_open_payment_lists_an_option_per_asset_with_a_rate(gw):
    status, body = await create(gw, price={"amount": "25.00", "currency": "USD"}, order_id="open-1")
    assert status == 201, body
    assert (body["asset"], body["decimals"], body["amount"], body["chain"]) == ("USD", 2, "25", "anvil")
    options = {(o["chain"], o["asset"]): o for o in body["options"]}
    assert set(options) == {("anvil", "TUSD"), ("sepolia", "DUSD")}  # ETH has no rate here: not offered
    assert options[("anvil", "TUSD")]["amount_base_units"] == "25000000"
    assert options[("sepolia", "DUSD")]["amount"] == "25"
    assert options[("sepolia", "DUSD")]["payment_uri"] == (
        f"ethereum:{gw['dusd']}@{SEPOLIA}/transfer?address={body['address']}&uint256={25 * 10**18}")
    assert options[("anvil", "TUSD")]["rate"] == {"value": "1", "currency": "USD", "source": "fixed",
                                                  "at": options[("anvil", "TUSD")]["rate"]["at"]}
    assert body["payment_uri"] == body["options"][0]["payment_uri"] and body["rate"] is None


async def test_paid_half_in_one_token_on_one_chain_and_half_in_another_on_the_other(gw):
    rt, home, other = gw["rt"], gw["home"], gw["other"]
    _, body = await create(gw, price={"amount": "20.00", "currency": "USD"})
    home.wait([home.token(gw["tusd"], body["address"], 10_000_000)])  # 10 USD of TUSD on anvil
    await sync(rt, "anvil")
    half = await get(gw, body["id"])
    assert half["status"] == "detected" and half["amount_received"] == "10"
    other.wait([other.token(gw["dusd"], body["address"], 10 * 10**18)])  # 10 USD of DUSD on sepolia
    await sync(rt, "sepolia")
    done = await get(gw, body["id"])
    assert done["status"] == "confirmed" and done["amount_received"] == "20" and not done["overpaid"]
    assert sorted((t["chain"], t["asset"], t["value"]) for t in done["transfers"]) == [
        ("anvil", "TUSD", "10"), ("sepolia", "DUSD", "10")]
    assert done["misdirected"] == []
    async with rt.sessions() as s:
        events = list(await s.scalars(select(Event.type).where(Event.payment_id == body["id"]).order_by(Event.seq)))
    assert events == ["payment.detected", "payment.confirmed"]

    for _ in range(4):  # swept per asset and chain: DUSD on sepolia to sepolia's treasury
        await sweep_pass(rt, gw["keys"], "sepolia")
        await sync(rt, "sepolia")
    data = "0x70a08231" + "0" * 24 + TREASURY[2:].lower()
    assert int(gw["nodes"][1].rpc("eth_call", {"to": gw["dusd"], "data": data}, "latest"), 16) >= 10 * 10**18


async def test_an_asset_that_is_not_an_option_counts_for_nothing(gw):
    rt, home = gw["rt"], gw["home"]
    _, body = await create(gw, price={"amount": "5.00", "currency": "USD"})
    home.wait([home.native(body["address"], 10**18)])  # ETH on anvil: no rate, no option
    await sync(rt, "anvil")
    got = await get(gw, body["id"])
    assert got["status"] == "pending" and got["amount_received"] == "0"
    assert [t["credited_base_units"] for t in got["transfers"]] == [None]


@pytest.mark.parametrize(("body", "field"), [
    ({"asset": "TUSD", "price": {"amount": "1", "currency": "USD"}}, "chain"),
    ({"chain": "anvil", "price": {"amount": "1", "currency": "USD"}}, "asset"),
    ({"amount": "1"}, "chain"),  # an amount needs its chain and asset
])
async def test_half_an_open_payment_is_a_422_naming_the_missing_field(gw, body, field):
    status, answer = await create(gw, **body)
    assert status == 422 and answer["error"]["field"] == field, answer


async def test_an_open_payment_without_any_rate_is_a_503(gw):
    status, body = await create(gw, price={"amount": "5.00", "currency": "EUR"})  # no EUR peg or feed
    assert status == 503 and body["error"]["code"] == "rate_unavailable" and "EUR" in body["error"]["message"]


async def test_the_options_are_stored_with_the_payment(gw):
    _, body = await create(gw, price={"amount": "1.00", "currency": "USD"})
    async with gw["rt"].sessions() as s:
        payment = await s.get(Payment, body["id"])
    assert [o["asset"] for o in payment.options] == ["TUSD", "DUSD"] and payment.price_base_units == 100


async def test_the_checkout_of_an_open_payment_offers_each_option_with_what_is_still_due(gw):
    rt, home = gw["rt"], gw["home"]
    _, body = await create(gw, price={"amount": "8.00", "currency": "USD"})
    home.wait([home.token(gw["tusd"], body["address"], 3_000_000)])  # 3 USD paid: 5 still due
    await sync(rt, "anvil")
    page = (await (await gw["client"].get(f"/pay/{body['id']}")).get_data()).decode()
    assert '<span class="option-amount">5</span> TUSD</strong>' in page
    assert '<span class="option-amount">5</span> DUSD</strong>' in page
    assert f"uint256={5 * 10**18}" in page and "uint256=5000000" in page  # each link asks for the rest
    assert 'data-wallet="off"' in page and 'id="copy-amount"' not in page and 'id="qr"' not in page
    status = await (await gw["client"].get(f"/pay/{body['id']}/status")).get_json()
    assert status["payment_uri"].endswith("uint256=5000000")  # the first option's due, never cents as wei
    assert [o["amount_due"] for o in status["options"]] == ["5", "5"]  # the page updates each option live
    assert status["options"][1]["payment_uri"].endswith(f"uint256={5 * 10**18}")


def test_open_payment_assets_lists_what_is_offered_and_refuses_what_is_not_configured(gw):
    from ctrip_core.config import ConfigError
    from ctrip_core.pricing.open_assets import OpenAssets

    configs = [c.config for c in gw["rt"].chains.values()]
    listed = OpenAssets(configs, ["sepolia:DUSD"])
    assert listed.offers("sepolia", "DUSD") and not listed.offers("anvil", "TUSD")
    assert OpenAssets(configs, []).offers("anvil", "TUSD")  # empty: every configured asset
    with pytest.raises(ConfigError, match="payments.open_payment_assets: 'sepolia:USDC' is not a configured asset"):
        OpenAssets(configs, ["sepolia:USDC"])


async def test_an_open_payment_expires_only_once_every_chain_is_scanned_past_it(gw):
    """Moves both chains' clocks an hour ahead: the module's last test."""
    rt, (home_node, other_node) = gw["rt"], gw["nodes"]
    _, body = await create(gw, price={"amount": "3.00", "currency": "USD"}, expires_in=60)
    home_node.rpc("evm_increaseTime", 3600)
    home_node.rpc("evm_mine")
    await sync(rt, "anvil")
    assert (await get(gw, body["id"]))["status"] == "pending"  # sepolia, where it may be paid too, is behind
    other_node.rpc("evm_increaseTime", 3600)
    other_node.rpc("evm_mine")
    await sync(rt, "sepolia")
    await sync(rt, "anvil")
    assert (await get(gw, body["id"]))["status"] == "expired"
