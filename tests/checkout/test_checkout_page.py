"""The hosted checkout over the session's app: what the page shows (and never shows), its headers,
its 404s, the JSON status and the server-sent events. The browser itself is in test_checkout_browser.py.
"""

from __future__ import annotations

import asyncio
import html
import re

import pytest
from sqlalchemy import select, update

from ctrip_core.api import create_app
from ctrip_core.api.blueprints.checkout import CSP
from ctrip_core.db.models import Payment
from ctrip_core.runtime import build_runtime
from ctrip_core.services.checkout.public import format_seconds, qr_svg, valid_payment_id

SECRET = "tell-no-one-7f3a9c"
PAYMENT = {"chain": "anvil", "asset": "TUSD", "amount": "12.5", "order_id": "ORDER-4711",
           "metadata": {"internal_note": SECRET, "customer_email": "alice@example.com"}}
CSP_DIRECTIVES = {"script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
                  "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"}
PUBLIC_STATUS_FIELDS = {"id", "status", "final", "asset", "amount", "amount_received", "amount_due",
                        "amount_due_base_units", "confirmations", "confirmations_required", "expires_at",
                        "server_time", "redirect_url", "stage", "payment_uri", "qr_svg", "options"}


async def create(client, merchant, **overrides) -> dict:
    response = await client.post("/v1/payments", json=PAYMENT | overrides, headers=merchant["headers"])
    assert response.status_code == 201, await response.get_data()
    return await response.get_json()


async def text(response) -> str:
    return (await response.get_data()).decode()


async def set_payment(runtime, payment_id: str, **values) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(Payment).where(Payment.id == payment_id).values(**values))


def assert_csp(response) -> None:
    policy = response.headers.get("Content-Security-Policy", "")
    assert policy == CSP
    assert CSP_DIRECTIVES <= {d.strip() for d in policy.split(";")}
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def assert_not_found_page(response, body: str) -> None:
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Payment not found" in body and '"error"' not in body
    assert_csp(response)


# --- the page ------------------------------------------------------------------------------------

async def test_page_renders_everything_a_payer_needs_without_javascript(client, merchant):
    payment = await create(client, merchant)
    response = await client.get(f"/pay/{payment['id']}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    body = await text(response)
    # Readable without JavaScript: amount, asset, chain, address (EIP-55), status, QR, merchant, order, time left.
    assert re.search(r'<span id="amount">12\.5</span> <span id="asset">TUSD</span>', body)
    shown = re.search(r'<code class="address" id="address">(.*?)</code>', body).group(1)
    assert re.sub(r"<[^>]+>", "", shown) == payment["address"]  # grouped by fours, one string when copied
    assert f'data-address="{payment["address"]}"' in body
    assert payment["address"] != payment["address"].lower()  # checksummed, as the API returns it
    assert '<span id="chain-id">31337</span>' in body and "Anvil" in body
    assert '<p class="pill" id="status-label">Awaiting payment</p>' in body
    assert '<h1 id="merchant-name">acme</h1>' in body and '<span id="order-id">ORDER-4711</span>' in body
    assert re.search(r'<time id="time-left" datetime="[^"]+">(59:\d\d|1 h 00 min)</time>', body)
    assert '<svg viewBox="0 0 ' in body and 'class="qr-code"' in body
    assert f'href="{html.escape(payment["payment_uri"])}"' in body  # "Open in wallet app"
    assert payment["token_address"] in body  # the token contract the wallet button calls
    assert "<noscript>" in body  # without JS the page refreshes itself
    # The page's timings come from the api.checkout_* settings (defaults here).
    assert '<meta http-equiv="refresh" content="15">' in body
    assert 'data-redirect-delay="3"' in body and 'data-poll-ms="3000"' in body


async def test_page_leaks_no_metadata_or_merchant_internals(client, merchant):
    payment = await create(client, merchant)
    for path in (f"/pay/{payment['id']}", f"/pay/{payment['id']}/status"):
        body = await text(await client.get(path))
        for secret in (SECRET, "internal_note", "customer_email", "alice@example.com", merchant["id"],
                       merchant["key"], "metadata", "derivation", "sweep", "rpc_url", "127.0.0.1:"):
            assert secret not in body, (path, secret)


async def test_page_has_no_inline_script_or_style(client, merchant):
    payment = await create(client, merchant)
    body = await text(await client.get(f"/pay/{payment['id']}"))
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", body, re.S)
    assert scripts and all('src="/pay/assets/checkout.js?v=' in attrs and not inner.strip()
                           for attrs, inner in scripts)
    assert "<style" not in body and not re.search(r"<[^>]*\sstyle\s*=", body)
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", body)  # no inline event handlers
    assert "javascript:" not in body


async def test_status_json_is_whitelisted(client, merchant):
    payment = await create(client, merchant)
    response = await client.get(f"/pay/{payment['id']}/status")
    assert response.status_code == 200
    status = await response.get_json()
    assert set(status) == PUBLIC_STATUS_FIELDS
    assert status["status"] == "pending" and not status["final"]
    assert status["amount"] == "12.5" and status["amount_due"] == "12.5"
    assert status["amount_due_base_units"] == "12500000" and status["redirect_url"] is None
    assert_csp(response)


async def test_underpaid_shows_the_amount_still_due(client, merchant, runtime):
    payment = await create(client, merchant)
    await set_payment(runtime, payment["id"], status="underpaid", amount_received_base_units=4_250_000)
    body = await text(await client.get(f"/pay/{payment['id']}"))
    assert '<p class="pill" id="status-label">Underpaid</p>' in body
    assert re.search(r'<span data-field="amount_due">8\.25</span> TUSD still due', body)
    assert re.search(r'<span data-field="amount_received">4\.25</span> TUSD', body)
    assert 'id="pay-to" hidden' in body  # no address to pay once final
    status = await (await client.get(f"/pay/{payment['id']}/status")).get_json()
    assert status["final"] and status["amount_due"] == "8.25"


async def test_detected_hides_the_address_only_once_paid_in_full(client, merchant, runtime):
    payment = await create(client, merchant)
    await set_payment(runtime, payment["id"], status="detected", amount_received_base_units=2_500_000)
    body = await text(await client.get(f"/pay/{payment['id']}"))
    assert '<p class="pill" id="status-label">Partly paid</p>' in body  # not "detected": it cannot confirm yet
    assert 'id="due-line" hidden' not in body and 'id="pay-to" hidden' not in body  # 10 TUSD still to send
    assert re.search(r'<span data-field="amount_due">10</span> TUSD still due', body)
    assert 'data-amount-due-base="10000000"' in body  # what the wallet button sends
    await set_payment(runtime, payment["id"], amount_received_base_units=12_500_000)
    body = await text(await client.get(f"/pay/{payment['id']}"))
    assert '<p class="pill" id="status-label">Payment detected</p>' in body
    assert 'id="due-line" hidden' in body and 'id="pay-to" hidden' in body and 'id="expiry-row" hidden' in body
    assert '<progress id="confirmations" max="1" value="0"></progress>' in body


async def test_after_a_partial_payment_the_qr_code_and_wallet_link_ask_for_what_is_due(client, merchant, runtime):
    """A payer who re-scans after paying 2.5 of 12.5 TUSD is asked for 10, not 12.5 (which would overpay)."""
    payment = await create(client, merchant)
    full = payment["payment_uri"]
    assert full.endswith("&uint256=12500000")
    due_uri = full.replace("uint256=12500000", "uint256=10000000")
    await set_payment(runtime, payment["id"], status="detected", amount_received_base_units=2_500_000)
    body = await text(await client.get(f"/pay/{payment['id']}"))
    assert f'href="{html.escape(due_uri)}"' in body and f'href="{html.escape(full)}"' not in body
    assert qr_svg(due_uri) in body and qr_svg(full) not in body
    status = await (await client.get(f"/pay/{payment['id']}/status")).get_json()
    assert (status["stage"], status["payment_uri"], status["qr_svg"]) == ("partly_paid", due_uri, qr_svg(due_uri))
    assert 'data-state="partly_paid"' in body and '<progress id="confirmations"' in body
    assert re.search(r'data-state="detected" data-label="Payment detected" hidden', body)  # no bar shown


async def test_canceled_and_expired_say_do_not_pay(client, merchant, runtime):
    canceled = await create(client, merchant)
    assert (await client.post(f"/v1/payments/{canceled['id']}/cancel", headers=merchant["headers"])).status_code == 200
    expired = await create(client, merchant)
    await set_payment(runtime, expired["id"], status="expired")
    for payment, label in ((canceled, "Canceled"), (expired, "Expired")):
        body = await text(await client.get(f"/pay/{payment['id']}"))
        assert f'<p class="pill" id="status-label">{label}</p>' in body
        assert "Do not send funds to this address" in body
        assert 'id="pay-to" hidden' in body and "<noscript>" not in body


async def test_redirect_url_only_once_confirmed_and_only_http(client, merchant, runtime):
    payment = await create(client, merchant, redirect_url="https://shop.example/thanks?o=4711")
    body = await text(await client.get(f"/pay/{payment['id']}"))
    assert "shop.example" not in body
    await set_payment(runtime, payment["id"], status="confirmed", amount_received_base_units=12_500_000)
    body = await text(await client.get(f"/pay/{payment['id']}"))
    assert '<p class="pill" id="status-label">Confirmed</p>' in body
    assert 'href="https://shop.example/thanks?o=4711"' in body
    status = await (await client.get(f"/pay/{payment['id']}/status")).get_json()
    assert status["redirect_url"] == "https://shop.example/thanks?o=4711" and status["amount_due"] == "0"
    await set_payment(runtime, payment["id"], redirect_url="javascript:alert(1)")  # bypassing the API's check
    body = await text(await client.get(f"/pay/{payment['id']}"))
    assert "javascript:" not in body
    assert (await (await client.get(f"/pay/{payment['id']}/status")).get_json())["redirect_url"] is None


async def test_merchant_name_is_escaped(client, runtime):
    from testbed import new_merchant

    _, key = await new_merchant(runtime, '<script>alert("x")</script> & Co')
    payment = await create(client, {"headers": {"Authorization": f"Bearer {key}"}})
    body = await text(await client.get(f"/pay/{payment['id']}"))
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in body
    assert '<script>alert("x")' not in body


# --- 404s and headers ---------------------------------------------------------------------------

MALFORMED = [
    pytest.param("pay_" + "a" * 5000, id="very-long"),
    pytest.param("pay_abc%00def", id="nul"),
    pytest.param("%00", id="nul-only"),
    pytest.param("pay_%C3%BCn%C3%AFc%C3%B8d%C3%A9", id="unicode"),
    pytest.param("%F0%9F%92%B8", id="emoji"),
    pytest.param("pay_%ED%A0%80", id="lone-surrogate-bytes"),
    pytest.param("pay_x'%20OR%20'1'='1", id="sql-ish"),
    pytest.param("..%2F..%2Fetc%2Fpasswd", id="traversal"),
    pytest.param("pay_a/b/c", id="slashes"),
    pytest.param("pay_a%0Ab", id="newline"),  # no route matches it (found by Schemathesis)
    pytest.param("I%C2%89%C2%A4%0A%05", id="control-characters"),
    pytest.param("pay_a%0A/status", id="newline-then-more"),
    pytest.param("evt_0123456789abcdefghijklmn", id="another-object"),
    pytest.param("pay_000000000000000000000000", id="unknown"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("bad_id", MALFORMED)
async def test_unknown_or_malformed_ids_answer_the_404_page(client, bad_id):
    response = await client.get(f"/pay/{bad_id}")
    assert_not_found_page(response, await text(response))


@pytest.mark.parametrize("bad_id", ["pay_" + "a" * 5000, "pay_abc%00def", "pay_%C3%BC", "pay_000000000000000000000000"])
@pytest.mark.parametrize("suffix", ["status", "events"])
async def test_status_and_events_of_bad_ids_are_404(client, bad_id, suffix):
    response = await client.get(f"/pay/{bad_id}/{suffix}")
    assert_not_found_page(response, await text(response))


async def test_csp_on_every_pay_response(client, merchant):
    payment = await create(client, merchant)
    await client.post(f"/v1/payments/{payment['id']}/cancel", headers=merchant["headers"])  # so /events ends
    paths = [f"/pay/{payment['id']}", f"/pay/{payment['id']}/status", f"/pay/{payment['id']}/events",
             "/pay/assets/checkout.css", "/pay/assets/checkout.js", "/pay/pay_nope", "/pay/", "/pay"]
    for path in paths:
        response = await asyncio.wait_for(client.get(path), 10)
        assert response.status_code in (200, 404, 308), path
        assert_csp(response)
    wrong_method = await client.post(f"/pay/{payment['id']}")
    assert wrong_method.status_code == 405
    assert_csp(wrong_method)
    assert "Content-Security-Policy" not in (await client.get("/health")).headers  # only /pay is the page


async def test_assets_are_package_data_with_their_types(client):
    css = await client.get("/pay/assets/checkout.css")
    js = await client.get("/pay/assets/checkout.js")
    assert css.status_code == js.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert js.headers["Content-Type"].startswith("text/javascript")
    assert "max-age" in css.headers["Cache-Control"]
    assert b"EventSource" in await js.get_data() and b"wallet_switchEthereumChain" in await js.get_data()
    assert b"http" not in (await css.get_data()).replace(b"https?", b"")  # nothing fetched from elsewhere


async def test_openapi_documents_the_checkout_as_text(client):
    spec = await (await client.get("/openapi.json")).get_json()
    page = spec["paths"]["/pay/{id}"]["get"]
    assert page["security"] == [] and set(page["responses"]["200"]["content"]) == {"text/html"}
    assert set(page["responses"]["404"]["content"]) == {"text/html"}
    events = spec["paths"]["/pay/{id}/events"]["get"]["responses"]
    assert set(events["200"]["content"]) == {"text/event-stream"}
    status = spec["paths"]["/pay/{id}/status"]["get"]["responses"]
    assert "application/json" in status["200"]["content"] and "text/html" in status["404"]["content"]


# --- server-sent events --------------------------------------------------------------------------

def sse_events(body: str) -> list[tuple[str, str]]:
    events = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in fields:
            events.append((fields["event"], fields["data"]))
    return events


async def test_event_stream_of_a_final_payment_sends_its_status_and_closes(client, merchant):
    import json

    payment = await create(client, merchant)
    await client.post(f"/v1/payments/{payment['id']}/cancel", headers=merchant["headers"])
    response = await asyncio.wait_for(client.get(f"/pay/{payment['id']}/events"), 5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    body = await asyncio.wait_for(response.get_data(as_text=True), 5)
    assert body.startswith("retry: 3000\n")  # api.checkout_client_poll_s
    events = sse_events(body)
    assert [name for name, _ in events] == ["status"]
    status = json.loads(events[0][1])
    assert status["status"] == "canceled" and status["final"] and set(status) == PUBLIC_STATUS_FIELDS


@pytest.fixture
async def fast_app(settings_with):
    """An app whose event streams poll every 0.1 s, keep alive every 0.3 s and last 1.5 s."""
    runtime = build_runtime(settings_with(api={
        "checkout_rate_limit_per_s": 10_000, "checkout_rate_limit_burst": 10_000,
        "checkout_poll_s": 0.1, "checkout_stream_max_s": 1.5, "checkout_keepalive_s": 0.3}), "api")
    async with runtime.read_sessions() as session:  # connected before the tests time anything
        await session.execute(select(1))
    yield create_app(runtime)
    await runtime.close()


async def test_event_stream_follows_changes_and_ends_when_final(fast_app, merchant, runtime):
    import json

    client = fast_app.test_client()
    payment = await create(client, merchant)

    async def cancel_soon():
        await asyncio.sleep(0.4)
        await set_payment(runtime, payment["id"], status="canceled")

    started = asyncio.get_running_loop().time()
    response, _ = await asyncio.gather(client.get(f"/pay/{payment['id']}/events"), cancel_soon())
    body = await response.get_data(as_text=True)
    elapsed = asyncio.get_running_loop().time() - started
    assert [json.loads(data)["status"] for _, data in sse_events(body)] == ["pending", "canceled"]
    assert elapsed < 1.4  # ended by the final status, not by the lifetime bound


async def test_event_stream_lifetime_is_bounded(fast_app, merchant):
    client = fast_app.test_client()
    payment = await create(client, merchant)
    started = asyncio.get_running_loop().time()
    response = await asyncio.wait_for(client.get(f"/pay/{payment['id']}/events"), 5)
    body = await response.get_data(as_text=True)
    elapsed = asyncio.get_running_loop().time() - started
    assert 1.4 <= elapsed < 3
    assert [name for name, _ in sse_events(body)] == ["status"]  # nothing changed: one event, then the end
    assert ": keep-alive" in body  # 1.5 s of silence at keepalive_s 0.3


# --- helpers -------------------------------------------------------------------------------------

def test_time_left_format_matches_the_script():
    assert [format_seconds(s) for s in (-5, 0, 59, 61, 3599, 3600, 3725, 86400 + 7200)] == [
        "0:00", "0:00", "0:59", "1:01", "59:59", "1 h 00 min", "1 h 02 min", "1 d 2 h"]


def test_payment_id_shape():
    assert valid_payment_id("pay_" + "A1b2" * 6)
    for bad in ("pay_", "pay_a b", "pay_a\x00", "PAY_abc", "pay_ü", "pay_" + "a" * 61, "evt_abc", " pay_abc"):
        assert not valid_payment_id(bad), bad


async def test_a_priced_payment_shows_its_price_and_locked_rate_and_the_amount_can_be_copied(client, merchant, runtime):
    from datetime import UTC, datetime

    payment = await create(client, merchant, amount="25.012506")
    await set_payment(runtime, payment["id"], price_base_units=2500, price_currency="USD", rate_value="0.9995",
                      rate_source="coinbase", rate_at=datetime.now(UTC))
    body = await text(await client.get(f"/pay/{payment['id']}"))
    assert '<strong id="price-amount">25.00 USD</strong>' in body
    assert '1 TUSD = <span id="rate">0.9995 USD</span>, locked for' in body
    assert re.search(r'<time id="rate-lock" datetime="[^"]+">', body)
    assert 'id="copy-amount"' in body and 'id="copy-address"' in body


async def test_an_amount_payment_shows_no_price(client, merchant):
    payment = await create(client, merchant)
    body = await text(await client.get(f"/pay/{payment['id']}"))
    assert 'id="price"' not in body and 'id="copy-amount"' in body
