"""Payment links through the app (issue 20; Quart's test client, real PostgreSQL): an owner creates a
link once however often the form is sent; each visit of its public URL makes a new payment of it
(its own address, the link in its metadata) and redirects to that payment's checkout page; a
deactivated link is a 410 that makes nothing; visits are rate limited per client address; a viewer
reads but cannot act; another merchant's link is a 404; bad input is a one-line error."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from ctrip_core.api.blueprints.payment_links import client_bucket
from ctrip_core.db.models import Payment, PaymentLink
from dashboard_forms import post, signed_in, text

ETH = 10**18


@pytest.fixture
def app(runtime):
    """An app of each test's own: its limiters (login, link visits per client address) start full."""
    from ctrip_core.api import create_app

    return create_app(runtime)


def _nonce(page: str) -> str:
    return re.search(r'name="nonce" value="([^"]+)"', page).group(1)


async def _new_link(client, form: dict) -> tuple:
    """POST the new-link form (its nonce from a fresh form) → the response and the nonce it carried."""
    nonce = _nonce(await text(await client.get("/dashboard/links/new")))
    response = await post(client, "/dashboard/links/new", {**form, "nonce": nonce}, token_from="/dashboard/links/new")
    return response, nonce


async def _links_of(runtime, merchant_id: str) -> list[PaymentLink]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(PaymentLink).where(PaymentLink.merchant_id == merchant_id)))


async def _payments_of_link(runtime, link_id: str) -> list[Payment]:
    async with runtime.sessions() as session:
        rows = await session.scalars(select(Payment).where(Payment.metadata_["payment_link"].as_string() == link_id))
        return list(rows)


async def _link(app, runtime, merchant, form: dict | None = None) -> tuple:
    owner = await signed_in(app, runtime, merchant)
    created, _ = await _new_link(owner, form or {"kind": "asset", "amount": "0.5", "asset": "anvil:ETH",
                                                 "description": "Coffee <b>beans</b>"})
    assert created.status_code == 303, await text(created)
    [link] = await _links_of(runtime, merchant["id"])
    return owner, link


async def test_a_link_is_created_once_however_often_the_form_is_sent(app, runtime, merchant):
    owner = await signed_in(app, runtime, merchant)
    form = {"kind": "asset", "amount": "0.5", "asset": "anvil:ETH", "description": "Coffee <b>beans</b>",
            "expires_in_minutes": "30"}
    first, nonce = await _new_link(owner, form)
    again = await post(owner, "/dashboard/links/new", {**form, "nonce": nonce})  # a double click
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"] == "/dashboard/links?done=created"
    [link] = await _links_of(runtime, merchant["id"])
    assert (link.chain, link.asset, link.amount, link.price_currency, link.expires_in, link.active) == (
        "anvil", "ETH", "0.5", None, 1800, True)
    listed = await text(await owner.get(first.headers["Location"]))
    assert "Payment link created" in listed and f"http://localhost/pay/links/{link.id}" in listed  # (https elsewhere)
    assert "0.5 ETH on anvil" in listed and "Coffee &lt;b&gt;beans&lt;/b&gt;" in listed


async def test_each_visit_makes_a_new_payment_of_the_link_and_opens_its_checkout(app, runtime, merchant):
    owner, link = await _link(app, runtime, merchant)
    payer = app.test_client()
    first = await payer.get(f"/pay/links/{link.id}")
    second = await payer.get(f"/pay/links/{link.id}")
    assert first.status_code == second.status_code == 303
    assert "default-src 'none'" in first.headers["Content-Security-Policy"]
    assert first.headers["Cache-Control"] == "no-store"
    locations = [first.headers["Location"], second.headers["Location"]]
    assert all(re.fullmatch(r"/pay/pay_[A-Za-z0-9]+", where) for where in locations)
    payments = {p.id: p for p in await _payments_of_link(runtime, link.id)}
    assert set(payments) == {where.removeprefix("/pay/") for where in locations}
    assert len({p.address for p in payments.values()}) == 2  # each visit its own deposit address
    for p in payments.values():
        assert (p.merchant_id, p.chain, p.asset, p.amount_base_units, p.status) == (
            merchant["id"], "anvil", "ETH", ETH // 2, "pending")
        assert p.metadata_ == {"payment_link": link.id}
    checkout = await payer.get(locations[0])
    assert checkout.status_code == 200 and "0.5" in await text(checkout)
    # the merchant sees the link in the payment's metadata through the API too
    api = await (await payer.get(f"/v1/payments/{locations[0].removeprefix('/pay/')}",
                                 headers=merchant["headers"])).get_json()
    assert api["metadata"] == {"payment_link": link.id}
    assert re.search(r"<td>2</td>", await text(await owner.get("/dashboard/links")))  # payments made
    head = await payer.head(f"/pay/links/{link.id}")  # link checkers and previews make nothing
    assert head.status_code == 200 and len(await _payments_of_link(runtime, link.id)) == 2


async def test_a_link_another_page_embeds_makes_no_payment(app, runtime, merchant):
    """An <img> or <iframe> of another site pointing at the link, in each of its readers' browsers."""
    _, link = await _link(app, runtime, merchant)
    payer = app.test_client()
    for dest, mode in (("image", "no-cors"), ("iframe", "navigate"), ("empty", "cors")):
        embedded = await payer.get(f"/pay/links/{link.id}", headers={"Sec-Fetch-Dest": dest, "Sec-Fetch-Mode": mode})
        assert embedded.status_code == 403 and 'id="link-embedded"' in await text(embedded), dest
    assert await _payments_of_link(runtime, link.id) == []
    opened = await payer.get(f"/pay/links/{link.id}", headers={"Sec-Fetch-Dest": "document",
                                                                "Sec-Fetch-Mode": "navigate"})
    assert opened.status_code == 303 and len(await _payments_of_link(runtime, link.id)) == 1


async def test_a_deactivated_link_is_410_and_makes_no_payment(app, runtime, merchant):
    owner, link = await _link(app, runtime, merchant)
    off = await post(owner, f"/dashboard/links/{link.id}/deactivate", token_from="/dashboard/links")
    assert off.status_code == 303 and off.headers["Location"] == "/dashboard/links?done=deactivated"
    gone = await app.test_client().get(f"/pay/links/{link.id}")
    body = await text(gone)
    assert gone.status_code == 410 and "no longer active" in body and 'id="link-inactive"' in body
    assert "default-src 'none'" in gone.headers["Content-Security-Policy"]
    assert await _payments_of_link(runtime, link.id) == []
    assert "inactive" in await text(await owner.get("/dashboard/links"))
    on = await post(owner, f"/dashboard/links/{link.id}/activate", token_from="/dashboard/links")
    assert on.status_code == 303
    assert (await app.test_client().get(f"/pay/links/{link.id}")).status_code == 303


@pytest.mark.parametrize("path", ["/pay/links/plink_doesnotexist000000000", "/pay/links/pay_notalink",
                                  "/pay/links/plink_" + "x" * 500, "/pay/links/plink_a%00b", "/pay/links/"])
async def test_an_unknown_or_malformed_link_is_the_checkouts_404_page(app, path):
    response = await app.test_client().get(path)
    assert response.status_code == 404 and response.content_type.startswith("text/html")
    assert 'id="not-found"' in await text(response)


async def test_a_priced_link_is_made_without_a_rate_and_a_visit_without_one_is_503(app, runtime, merchant):
    """The test chains give no rate (no peg, no market source): making the link asks for none; a visit
    does, and says to come back, making nothing."""
    owner, link = await _link(app, runtime, merchant, {"kind": "price", "amount": "25.00", "currency": "USD",
                                                       "asset": "anvil:ETH"})
    assert (link.amount, link.price_amount, link.price_currency) == (None, "25.00", "USD")
    assert "25.00 USD in ETH on anvil" in await text(await owner.get("/dashboard/links"))
    visit = await app.test_client().get(f"/pay/links/{link.id}")
    assert visit.status_code == 503 and visit.headers["Retry-After"] == "30"
    assert 'id="link-unavailable"' in await text(visit)
    assert await _payments_of_link(runtime, link.id) == []


@pytest.fixture
async def pegged(anvil, token, migrated_pg_url, tmp_path):
    """A runtime whose TUSD is pegged to USD (the `fixed` rate provider), so a USD price has a rate."""
    from ctrip_core.api import create_app
    from ctrip_core.devnet.chains_yaml import anvil_chain, write_chains_file
    from ctrip_core.runtime import build_runtime
    from testbed import make_settings

    entry = anvil_chain(anvil.rpc_url, token)
    entry["tokens"][0]["peg"] = "USD"
    rt = build_runtime(make_settings(migrated_pg_url, write_chains_file(tmp_path / "chains.yaml", {"anvil": entry})),
                       "api")
    yield rt, create_app(rt)
    await rt.close()


async def test_a_priced_link_quotes_each_visit_at_its_rate(pegged, merchant):
    runtime, app = pegged
    _, link = await _link(app, runtime, merchant, {"kind": "price", "amount": "12.50", "currency": "USD",
                                                   "asset": "anvil:TUSD"})
    visit = await app.test_client().get(f"/pay/links/{link.id}")
    assert visit.status_code == 303
    [payment] = await _payments_of_link(runtime, link.id)
    assert (payment.asset, payment.price_currency, payment.price_base_units) == ("TUSD", "USD", 1250)
    assert payment.amount_base_units == 125 * 10 ** (payment.decimals - 1)  # 12.5 TUSD at 1 USD
    assert payment.metadata_ == {"payment_link": link.id}


async def test_an_open_priced_link_asks_for_no_asset(app, runtime, merchant):
    owner, link = await _link(app, runtime, merchant, {"kind": "price", "amount": "9.99", "currency": "EUR",
                                                       "asset": ""})
    assert (link.chain, link.asset, link.price_amount, link.price_currency) == (None, None, "9.99", "EUR")
    assert "9.99 EUR in any accepted asset" in await text(await owner.get("/dashboard/links"))


async def test_visits_are_rate_limited_per_client_address(app, runtime, merchant):
    _, link = await _link(app, runtime, merchant)
    burst = runtime.settings.api.payment_link_rate_burst
    payer = app.test_client()
    statuses = [(await payer.get(f"/pay/links/{link.id}")).status_code for _ in range(burst)]
    assert statuses == [303] * burst
    limited = await payer.get(f"/pay/links/{link.id}")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert (await payer.get("/pay/links/plink_unknown")).status_code == 429  # probing ids costs the same
    assert len(await _payments_of_link(runtime, link.id)) == burst
    other = await payer.get(f"/pay/links/{link.id}", scope_base={"client": ("198.51.100.7", 40000)})
    assert other.status_code == 303  # another address has its own bucket
    # the checkout's own bucket is apart: the payer still loads its page
    assert (await payer.get(other.headers["Location"])).status_code == 200


def test_an_ipv6_client_is_limited_by_its_64():
    assert client_bucket("2001:db8:1:2:aaaa::1") == client_bucket("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_bucket("2001:db8:1:3::1") != client_bucket("2001:db8:1:2::1")
    assert client_bucket("198.51.100.7") == "198.51.100.7" and client_bucket("unknown") == "unknown"


async def test_a_viewer_reads_links_but_cannot_create_or_change_one(app, runtime, merchant):
    _, link = await _link(app, runtime, merchant)
    viewer = await signed_in(app, runtime, merchant, "viewer")
    page = await text(await viewer.get("/dashboard/links"))
    assert link.id in page and "/deactivate" not in page and "/dashboard/links/new" not in page
    assert (await viewer.get("/dashboard/links/new")).status_code == 403
    made = await post(viewer, "/dashboard/links/new", {"kind": "asset", "amount": "1", "asset": "anvil:ETH",
                                                       "nonce": "n" * 43})
    assert made.status_code == 403
    assert (await post(viewer, f"/dashboard/links/{link.id}/deactivate")).status_code == 403
    [still] = await _links_of(runtime, merchant["id"])
    assert still.active


async def test_another_merchants_link_is_not_found_on_the_dashboard(app, runtime, merchant, other_merchant):
    _, link = await _link(app, runtime, merchant)
    other = await signed_in(app, runtime, other_merchant)
    assert link.id not in await text(await other.get("/dashboard/links"))
    for action in ("deactivate", "activate"):
        refused = await post(other, f"/dashboard/links/{link.id}/{action}")
        assert refused.status_code == 404 and "No such payment link" in await text(refused)
    assert (await post(other, "/dashboard/links/plink_nope/deactivate")).status_code == 404
    [still] = await _links_of(runtime, merchant["id"])
    assert still.active


@pytest.mark.parametrize(("form", "says"), [
    ({"kind": "asset", "amount": "abc", "asset": "anvil:ETH"}, "amount 'abc' is not a plain decimal number"),
    ({"kind": "asset", "amount": "1", "asset": "anvil:NOPE"}, "unknown asset 'NOPE' on anvil"),
    ({"kind": "asset", "amount": "1", "asset": "nowhere:ETH"}, "unknown chain 'nowhere'"),
    ({"kind": "asset", "amount": "1", "asset": ""}, "required (an open payment gives a price"),
    ({"kind": "asset", "amount": "0.0000000000000000001", "asset": "anvil:ETH"}, "has 19 decimals"),
    ({"kind": "price", "amount": "5", "currency": "XYZ", "asset": "anvil:ETH"}, "unknown currency 'XYZ'"),
    ({"kind": "asset", "amount": "1", "asset": "anvil:ETH", "expires_in_minutes": "soon"},
     "expires in: a whole number of minutes"),
    ({"kind": "asset", "amount": "1", "asset": "anvil:ETH", "expires_in_minutes": "0"}, "must be between"),
    ({"kind": "asset", "amount": "1", "asset": "anvil:ETH", "description": "d" * 501},
     "description: at most 500 characters"),
])
async def test_bad_input_is_a_one_line_error_and_makes_no_link(app, runtime, merchant, form, says):
    owner = await signed_in(app, runtime, merchant)
    refused, _ = await _new_link(owner, form)
    body = await text(refused)
    assert refused.status_code == 422, body
    error = re.search(r'<p class="error" role="alert" id="form-error">([^<\n]*)</p>', body)
    assert error and says in error.group(1).replace("&#39;", "'"), body
    assert await _links_of(runtime, merchant["id"]) == []


async def test_the_nav_links_the_payment_links(app, runtime, merchant):
    owner = await signed_in(app, runtime, merchant)
    page = await text(await owner.get("/dashboard"))
    assert '<a href="/dashboard/links">Payment links</a>' in page
    assert (await owner.get("/dashboard/links")).status_code == 200


async def test_the_link_route_is_documented_as_the_checkouts(client):
    spec = await (await client.get("/openapi.json")).get_json()
    operation = spec["paths"]["/pay/links/{link_id}"]["get"]
    assert operation["tags"] == ["Hosted checkout"] and operation["security"] == []
    assert {"303", "404", "410", "429", "503"} <= set(operation["responses"])


async def test_counting_payments_of_a_link_needs_only_the_link(runtime, merchant, app):
    """The list's "payments made" is the link's own count, equal to its payments found by metadata."""
    _, link = await _link(app, runtime, merchant)
    for _ in range(3):
        assert (await app.test_client().get(f"/pay/links/{link.id}")).status_code == 303
    async with runtime.sessions() as session:
        count = await session.scalar(select(PaymentLink.payments_created).where(PaymentLink.id == link.id))
        found = await session.scalar(select(func.count()).select_from(Payment)
                                     .where(Payment.metadata_["payment_link"].as_string() == link.id))
    assert count == found == 3
