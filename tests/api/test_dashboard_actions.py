"""Acting from the dashboard through the app (Quart's test client, real PostgreSQL): an owner refunds
and pays out in two steps (the review writes nothing; the confirmation acts once, however often it
is sent), redelivers an event, manages webhook endpoints (secret shown once, rotate, disable,
enable, a test event to that endpoint only), API keys (shown once, revoked at once) and users
(invited by a one-time link; the last owner stays), turns on TOTP; a viewer can do none of it;
every action needs the session's CSRF token; another merchant's object is a 404.
In a real browser: test_dashboard_browser.py."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from ctrip_core.db.models import Delivery, Event, Payout, Transfer, WebhookEndpoint
from ctrip_core.db.types import utcnow
from ctrip_core.services.dashboard import totp
from dashboard_forms import PASSWORD, csrf_of, log_in, post, signed_in, text

SENDER = "0x00000000000000000000000000000000000a11ce"
ELSEWHERE = "0x00bee00000000000000000000000000000000077"


@pytest.fixture
def app(runtime):
    """An app of each test's own: its login limiter (per client address) starts full."""
    from ctrip_core.api import create_app

    return create_app(runtime)


async def _count(runtime, model, *where) -> int:
    async with runtime.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def _paid_payment(client, runtime, merchant, units: int = 5 * 10**18) -> str:
    """A payment with one confirmed transfer of `units` ETH base units from SENDER."""
    created = await client.post("/v1/payments", json={"chain": "anvil", "asset": "ETH", "amount": "5"},
                                headers=merchant["headers"])
    payment = await created.get_json()
    async with runtime.sessions() as session, session.begin():
        session.add(Transfer(chain="anvil", tx_hash="0x" + payment["id"].encode().hex().ljust(64, "0")[:64],
                             log_index=-1, payment_id=payment["id"], block_number=1, block_hash="0x" + "b" * 64,
                             from_address=SENDER, to_address=payment["address"], asset="ETH", token_address=None,
                             amount_base_units=units, state="confirmed"))
    return payment["id"]


async def test_a_refund_is_reviewed_without_writing_then_confirmed_once(app, runtime, merchant):
    client = await signed_in(app, runtime, merchant)
    payment_id = await _paid_payment(client, runtime, merchant)
    page = await text(await client.get(f"/dashboard/payments/{payment_id}"))
    assert f'href="/dashboard/payments/{payment_id}/refund"' in page
    form = await client.get(f"/dashboard/payments/{payment_id}/refund")
    assert form.status_code == 200

    review = await post(client, f"/dashboard/payments/{payment_id}/refund", {"amount": "2"},
                        token_from=f"/dashboard/payments/{payment_id}/refund")
    body = await text(review)
    assert review.status_code == 200 and "2 ETH on anvil" in body and SENDER in body.lower()
    assert await _count(runtime, Payout, Payout.payment_id == payment_id) == 0  # the review wrote nothing
    assert await _count(runtime, Event, Event.payment_id == payment_id, Event.type == "refund.created") == 0

    confirm = {k: v for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', body)}
    assert confirm["confirm"] == "1" and confirm["address"].lower() == SENDER
    first = await client.post(f"/dashboard/payments/{payment_id}/refund", form=confirm)
    again = await client.post(f"/dashboard/payments/{payment_id}/refund", form=confirm)  # a double click
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"] == f"/dashboard/payments/{payment_id}?done=refund"
    assert await _count(runtime, Payout, Payout.payment_id == payment_id) == 1
    timeline = await text(await client.get(first.headers["Location"]))
    assert "Refund created" in timeline and "2 ETH" in timeline

    too_much = await post(client, f"/dashboard/payments/{payment_id}/refund", {"amount": "4"})
    assert too_much.status_code == 409 and "at most 3 ETH" in await text(too_much)
    bad = await post(client, f"/dashboard/payments/{payment_id}/refund", {"address": "0x12"})
    assert bad.status_code == 422 and "address" in await text(bad)
    assert await _count(runtime, Payout, Payout.payment_id == payment_id) == 1


async def test_a_payout_is_reviewed_then_sent_once_and_listed(app, runtime, merchant):
    client = await signed_in(app, runtime, merchant)
    review = await post(client, "/dashboard/payouts", {"asset": "anvil:ETH", "amount": "0.25", "address": ELSEWHERE,
                                                       "reference": "<b>invoice 7</b>"})
    body = await text(review)
    assert review.status_code == 200 and "0.25 ETH on anvil" in body and "&lt;b&gt;invoice 7" in body
    assert await _count(runtime, Payout, Payout.merchant_id == merchant["id"]) == 0
    confirm = dict(re.findall(r'name="(\w+)" value="([^"]*)"', body))
    confirm["reference"] = "<b>invoice 7</b>"  # (the page shows it escaped; the browser posts it as typed)
    for _ in range(2):
        sent = await client.post("/dashboard/payouts", form=confirm)
        assert sent.status_code == 303 and sent.headers["Location"] == "/dashboard/payouts?done=payout"
    assert await _count(runtime, Payout, Payout.merchant_id == merchant["id"]) == 1
    listed = await text(await client.get(sent.headers["Location"]))
    assert "Payout created" in listed and "0.25 ETH" in listed and ELSEWHERE in listed.lower()
    refused = await post(client, "/dashboard/payouts", {"asset": "anvil:NOPE", "amount": "1", "address": ELSEWHERE})
    assert refused.status_code == 422


async def test_a_viewer_reads_but_cannot_act(app, runtime, merchant):
    owner = await signed_in(app, runtime, merchant)
    payment_id = await _paid_payment(owner, runtime, merchant)
    viewer = await signed_in(app, runtime, merchant, "viewer")
    page = await text(await viewer.get(f"/dashboard/payments/{payment_id}"))
    assert "/refund" not in page and "Redeliver" not in page
    assert (await viewer.get("/dashboard/users")).status_code == 403
    endpoints_before = await _count(runtime, WebhookEndpoint, WebhookEndpoint.merchant_id == merchant["id"])
    for url, form in [(f"/dashboard/payments/{payment_id}/refund", {}),
                      ("/dashboard/payouts", {"asset": "anvil:ETH", "amount": "1", "address": ELSEWHERE}),
                      ("/dashboard/webhooks", {"url": "https://example.com/hook"}),
                      ("/dashboard/keys", {"scopes": "read"}),
                      ("/dashboard/users", {"email": "eve@shop.example", "role": "owner"})]:
        response = await post(viewer, url, form)
        assert response.status_code == 403 and "Only an owner" in await text(response), url
    assert await _count(runtime, Payout, Payout.merchant_id == merchant["id"]) == 0
    assert await _count(runtime, WebhookEndpoint, WebhookEndpoint.merchant_id == merchant["id"]) == endpoints_before
    # what a viewer may do: read every page, and its own second factor
    for url in ("/dashboard/payouts", "/dashboard/balances", "/dashboard/webhooks", "/dashboard/keys",
                "/dashboard/account"):
        assert (await viewer.get(url)).status_code == 200, url


async def test_every_action_needs_the_sessions_csrf_token(app, runtime, merchant):
    client = await signed_in(app, runtime, merchant)
    payment_id = await _paid_payment(client, runtime, merchant)
    for url in (f"/dashboard/payments/{payment_id}/refund", "/dashboard/payouts", "/dashboard/webhooks",
                "/dashboard/keys", "/dashboard/users", "/dashboard/account/totp/start", "/dashboard/events/evt_x/redeliver"):
        for form in ({}, {"csrf_token": "forged"}):
            response = await client.post(url, form=form)
            assert response.status_code == 403 and "The form expired" in await text(response), url
    assert await _count(runtime, Payout, Payout.merchant_id == merchant["id"]) == 0


async def test_webhook_endpoint_secret_once_rotate_disable_enable_and_a_test_event(app, runtime, merchant,
                                                                                    other_merchant):
    client = await signed_in(app, runtime, merchant)
    created = await post(client, "/dashboard/webhooks", {"url": "https://example.com/hook"})
    body = await text(created)
    assert created.status_code == 201
    secret = re.search(r'id="signing-secret">(whsec_[^<]+)<', body).group(1)
    endpoint_id = re.search(r'id="endpoint-id">(we_[^<]+)<', body).group(1)
    again = await text(await client.get(f"/dashboard/webhooks/{endpoint_id}"))
    assert secret not in again and "signing-secret" not in again  # shown once
    assert endpoint_id in await text(await client.get("/dashboard/webhooks"))

    rotated = await text(await post(client, f"/dashboard/webhooks/{endpoint_id}/rotate"))
    assert re.search(r'id="signing-secret">(whsec_[^<]+)<', rotated).group(1) != secret

    # a second endpoint subscribed to everything must not get the other's test event
    other_endpoint = re.search(r'id="endpoint-id">(we_[^<]+)<', await text(
        await post(client, "/dashboard/webhooks", {"url": "https://example.com/other"}))).group(1)
    tested = await post(client, f"/dashboard/webhooks/{endpoint_id}/test")
    assert tested.status_code == 303 and tested.headers["Location"].endswith("?done=test")
    async with runtime.sessions() as session:
        deliveries = (await session.execute(select(Delivery.endpoint_id, Event.type).join(
            Event, Event.id == Delivery.event_id).where(Event.merchant_id == merchant["id"],
                                                        Event.type == "webhook_endpoint.test"))).all()
    assert deliveries == [(endpoint_id, "webhook_endpoint.test")] and other_endpoint != endpoint_id
    log = await text(await client.get(tested.headers["Location"]))
    assert "Test event queued" in log and "webhook_endpoint.test" in log
    async with runtime.sessions() as session:
        test_event = await session.scalar(select(Event.id).where(Event.merchant_id == merchant["id"],
                                                                 Event.type == "webhook_endpoint.test"))
    redelivered = await client.post(f"/v1/events/{test_event}/redeliver", headers=merchant["headers"])
    assert redelivered.status_code < 300  # through the API too: again to the tested endpoint alone
    async with runtime.sessions() as session:
        endpoints = (await session.scalars(select(Delivery.endpoint_id).where(Delivery.event_id == test_event))).all()
    assert endpoints == [endpoint_id, endpoint_id]

    disabled = await post(client, f"/dashboard/webhooks/{endpoint_id}/disable")
    assert disabled.status_code == 303
    page = await text(await client.get(f"/dashboard/webhooks/{endpoint_id}"))
    assert 'id="endpoint-status">disabled' in page and 'id="enable"' in page and 'id="send-test"' not in page
    refused = await post(client, f"/dashboard/webhooks/{endpoint_id}/test")
    assert refused.status_code == 409 and "enable it" in await text(refused)
    await post(client, f"/dashboard/webhooks/{endpoint_id}/enable")
    assert 'id="endpoint-status">enabled' in await text(await client.get(f"/dashboard/webhooks/{endpoint_id}"))

    bad = await post(client, "/dashboard/webhooks", {"url": "ftp://example.com"})
    assert bad.status_code == 422 and 'role="alert"' in await text(bad)

    theirs = await signed_in(app, runtime, other_merchant)
    for url in (f"/dashboard/webhooks/{endpoint_id}",):
        assert (await theirs.get(url)).status_code == 404
    for action in ("rotate", "test", "disable", "enable"):
        assert (await post(theirs, f"/dashboard/webhooks/{endpoint_id}/{action}")).status_code == 404, action


async def test_an_api_key_is_shown_once_works_and_is_revoked_at_once(app, runtime, merchant, other_merchant):
    client = await signed_in(app, runtime, merchant)
    created = await post(client, "/dashboard/keys", {"scopes": "read"})
    body = await text(created)
    key = re.search(r'id="new-key">(ctrip_sk_[^<]+)<', body).group(1)
    key_id = re.search(r"New key <code>(key_[^<]+)<", body).group(1)
    assert created.status_code == 201 and key not in await text(await client.get("/dashboard/keys"))
    headers = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/v1/payments", headers=headers)).status_code == 200
    assert (await client.post("/v1/payments", json={"chain": "anvil", "asset": "ETH", "amount": "1"},
                              headers=headers)).status_code == 403  # read only

    theirs = await signed_in(app, runtime, other_merchant)
    assert (await post(theirs, f"/dashboard/keys/{key_id}/revoke")).status_code == 404
    assert (await client.get("/v1/payments", headers=headers)).status_code == 200
    revoked = await post(client, f"/dashboard/keys/{key_id}/revoke")
    assert revoked.status_code == 303
    assert (await client.get("/v1/payments", headers=headers)).status_code == 401
    assert "revoked" in await text(await client.get("/dashboard/keys"))


async def test_an_invited_user_sets_a_password_by_a_one_time_link_and_the_last_owner_stays(app, runtime, merchant,
                                                                                        other_merchant):
    owner = await signed_in(app, runtime, merchant)
    invited = await post(owner, "/dashboard/users", {"email": "Bob@Shop.example", "role": "viewer"})
    link = re.search(r'id="setup-link">([^<]+)<', await text(invited)).group(1)
    path = link[link.index("/dashboard/setup/"):]
    stranger = app.test_client()
    assert (await log_in(stranger, "bob@shop.example", "")).status_code == 401  # no password yet
    form = await stranger.get(path)
    token = csrf_of(await text(form))
    differ = await stranger.post(path, form={"password": PASSWORD, "password_again": PASSWORD + "!", "csrf_token": token})
    assert differ.status_code == 422
    token = csrf_of(await text(differ))
    done = await stranger.post(path, form={"password": PASSWORD, "password_again": PASSWORD, "csrf_token": token})
    assert done.status_code == 303
    assert (await stranger.get(path)).status_code == 404  # used up
    assert (await log_in(stranger, "bob@shop.example")).status_code == 303
    assert (await stranger.get("/dashboard/users")).status_code == 403  # a viewer

    users_page = await text(await owner.get("/dashboard/users"))
    ids = dict((email, uid) for uid, email in re.findall(r'<tr data-id="(usr_[^"]+)">\s*<td>([^<\s]+)', users_page))
    me = ids[f"owner-{merchant['id'].lower()}@shop.example"]
    last = await post(owner, f"/dashboard/users/{me}/role", {"role": "viewer"})
    assert last.status_code == 409 and "last owner" in await text(last)
    assert (await post(owner, f"/dashboard/users/{me}/remove")).status_code == 409
    theirs = await signed_in(app, runtime, other_merchant)
    assert (await post(theirs, f"/dashboard/users/{ids['bob@shop.example']}/remove")).status_code == 404
    await post(owner, f"/dashboard/users/{ids['bob@shop.example']}/role", {"role": "owner"})
    made = await post(stranger, "/dashboard/keys", {"scopes": "read"})  # bob, an owner now, makes a key
    assert made.status_code == 201
    keys_page = await text(await owner.get("/dashboard/keys"))
    assert "by bob@shop.example" in keys_page
    removed = await post(owner, f"/dashboard/users/{ids['bob@shop.example']}/remove")
    assert removed.status_code == 303 and removed.headers["Location"].endswith("done=removed-keys-left")
    assert "still active" in await text(await owner.get(removed.headers["Location"]))
    assert (await stranger.get("/dashboard")).status_code == 303  # its session ended
    assert "by the operator" not in keys_page.split("by bob@shop.example")[0].rsplit("<tr", 1)[-1]


async def test_totp_turned_on_is_asked_at_login_and_a_code_is_good_once(app, runtime, merchant):
    client = await signed_in(app, runtime, merchant)
    email = f"owner-{merchant['id'].lower()}@shop.example"
    wrong_password = await post(client, "/dashboard/account/totp/start", {"password": "not it at all"},
                                token_from="/dashboard/account")
    assert wrong_password.status_code == 422 and "Wrong password" in await text(wrong_password)
    await post(client, "/dashboard/account/totp/start", {"password": PASSWORD}, token_from="/dashboard/account")
    page = await text(await client.get("/dashboard/account"))
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    assert 'src="data:image/svg+xml;base64,' in page
    wrong = await post(client, "/dashboard/account/totp/confirm", {"code": "000000"}, token_from="/dashboard/account")
    assert wrong.status_code == 422 or totp.code_at(secret, totp.step_of(utcnow())) == "000000"
    code = totp.code_at(secret, totp.step_of(utcnow()))
    on = await post(client, "/dashboard/account/totp/confirm", {"code": code}, token_from="/dashboard/account")
    assert on.status_code == 303 and on.headers["Location"].endswith("?done=on")

    fresh = app.test_client()
    assert (await log_in(fresh, email)).status_code == 401  # the password alone is not enough
    assert (await log_in(fresh, email, code=code)).status_code == 401  # the code used to confirm is spent
    next_code = totp.code_at(secret, totp.step_of(utcnow()) + 1)  # the next step (one step of drift is accepted)
    assert (await log_in(fresh, email, code=next_code)).status_code == 303
    replay = app.test_client()
    assert (await log_in(replay, email, code=next_code)).status_code == 401  # good once


async def test_codes_cannot_be_guessed_through_the_account_page(app, runtime, merchant):
    """A stolen session cannot turn TOTP off by guessing: wrong codes count as wrong logins, and at
    the limit the user is locked out and the session ends."""
    from ctrip_core.services.dashboard.login import MAX_FAILURES

    client = await signed_in(app, runtime, merchant)
    await post(client, "/dashboard/account/totp/start", {"password": PASSWORD}, token_from="/dashboard/account")
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', await text(await client.get("/dashboard/account"))).group(1)
    await post(client, "/dashboard/account/totp/confirm", {"code": totp.code_at(secret, totp.step_of(utcnow()))},
               token_from="/dashboard/account")
    without_password = await post(client, "/dashboard/account/totp/off", {"code": "123456"},
                                  token_from="/dashboard/account")
    assert without_password.status_code == 422
    for _ in range(MAX_FAILURES - 2):
        wrong = await post(client, "/dashboard/account/totp/off", {"password": PASSWORD, "code": "000001"},
                           token_from="/dashboard/account")
        assert wrong.status_code == 422
    last = await post(client, "/dashboard/account/totp/off", {"password": PASSWORD, "code": "000001"},
                      token_from="/dashboard/account")
    assert last.status_code == 303 and last.headers["Location"].endswith("/dashboard/login")
    assert (await client.get("/dashboard")).status_code == 303  # the session ended
    email = f"owner-{merchant['id'].lower()}@shop.example"
    locked = await log_in(app.test_client(), email, code=totp.code_at(secret, totp.step_of(utcnow()) + 1))
    assert locked.status_code == 401  # locked out, the right password and code included


def test_totp_codes_match_rfc_6238():
    """RFC 6238 appendix B's SHA-1 vectors (the secret "12345678901234567890"), last 6 digits."""
    import base64

    secret = base64.b32encode(b"12345678901234567890").decode()
    for t, code in ((59, "287082"), (1111111109, "081804"), (1111111111, "050471"), (1234567890, "005924"),
                    (2000000000, "279037")):
        assert totp.code_at(secret, t // 30) == code


async def test_balances_page_and_the_csv_export(app, runtime, merchant):
    client = await signed_in(app, runtime, merchant, "viewer")
    await _paid_payment(client, runtime, merchant, 10**18)
    page = await text(await client.get("/dashboard/balances"))
    assert "ETH" in page and "anvil" in page
    csv = await client.get("/dashboard/balances/transactions.csv?from=2020-01-01&to=")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert (await text(csv)).startswith("type,id,created_at,chain,asset,status")
    bad = await client.get("/dashboard/balances/transactions.csv?from=yesterday")
    assert bad.status_code == 422 and "not an ISO 8601 date" in await text(bad)


async def test_an_owner_redelivers_an_event_of_a_payment_to_its_endpoints(app, runtime, merchant, other_merchant):
    client = await signed_in(app, runtime, merchant)
    await post(client, "/dashboard/webhooks", {"url": "https://example.com/hook"})
    created = await client.post("/v1/payments", json={"chain": "anvil", "asset": "ETH", "amount": "1"},
                                headers=merchant["headers"])
    payment_id = (await created.get_json())["id"]
    await client.post(f"/v1/payments/{payment_id}/cancel", headers=merchant["headers"])
    async with runtime.sessions() as session:
        event_id = await session.scalar(select(Event.id).where(Event.payment_id == payment_id))
    theirs = await signed_in(app, runtime, other_merchant)
    assert (await post(theirs, f"/dashboard/events/{event_id}/redeliver")).status_code == 404
    before = await _count(runtime, Delivery, Delivery.event_id == event_id)
    response = await post(client, f"/dashboard/events/{event_id}/redeliver")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/dashboard/payments/{payment_id}?done=redelivered"
    assert await _count(runtime, Delivery, Delivery.event_id == event_id) == before + 1
    assert "Redelivery queued" in await text(await client.get(response.headers["Location"]))


async def test_an_owner_creates_a_payment_once_and_bad_input_is_one_line(app, runtime, merchant):
    client = await signed_in(app, runtime, merchant)
    form_page = await text(await client.get("/dashboard/payments/new"))
    fields = dict(re.findall(r'name="(csrf_token|nonce)" value="([^"]+)"', form_page))
    form = {**fields, "kind": "asset", "asset": "anvil:ETH", "amount": "0.5", "order_id": "A-17"}
    first = await client.post("/dashboard/payments/new", form=form)
    again = await client.post("/dashboard/payments/new", form=form)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"] and "?done=created" in first.headers["Location"]
    async with runtime.sessions() as session:
        from ctrip_core.db.models import Payment
        made = (await session.scalars(select(Payment).where(Payment.merchant_id == merchant["id"],
                                                            Payment.order_id == "A-17"))).all()
    assert len(made) == 1 and made[0].amount_base_units == 5 * 10**17
    timeline = await text(await client.get(first.headers["Location"]))
    assert "Payment created" in timeline and f'href="/pay/{made[0].id}"' in timeline
    fields = dict(re.findall(r'name="(csrf_token|nonce)" value="([^"]+)"', await text(await client.get("/dashboard/payments/new"))))
    bad = await client.post("/dashboard/payments/new", form={**fields, "kind": "asset", "asset": "anvil:ETH",
                                                              "amount": "-1"})
    assert bad.status_code == 422 and 'id="form-error"' in await text(bad)


async def test_the_payments_list_filters_by_asset_and_dates_and_pages_keep_them(app, runtime, merchant):
    client = await signed_in(app, runtime, merchant, "viewer")
    for asset, amount in (("ETH", "1"), ("TUSD", "2")):
        await client.post("/v1/payments", json={"chain": "anvil", "asset": asset, "amount": amount},
                          headers=merchant["headers"])
    only_tusd = await text(await client.get("/dashboard?asset=TUSD"))
    assert "2 TUSD" in only_tusd and "1 ETH" not in only_tusd
    assert "No payments" in await text(await client.get("/dashboard?from=2000-01-01&to=2000-01-02"))
    bad = await text(await client.get("/dashboard?from=someday"))
    assert 'role="alert"' in bad and "not an ISO 8601 date" in bad


async def test_hostile_ids_and_fields_are_a_404_or_one_line_never_a_500(app, runtime, merchant):
    client = await signed_in(app, runtime, merchant)
    payment_id = await _paid_payment(client, runtime, merchant)
    for url in ("/dashboard/payments/x%00y/refund", "/dashboard/webhooks/we_x%00y/test", "/dashboard/webhooks/"
                + "we_" + "a" * 5000 + "/rotate", "/dashboard/keys/key_x%00y/revoke", "/dashboard/users/usr_%00/role",
                "/dashboard/users/usr_x%00/remove", "/dashboard/events/evt_%00/redeliver"):
        response = await post(client, url, {"role": "viewer"})
        assert response.status_code == 404, url
    assert (await client.get("/dashboard/webhooks/we_x%00y")).status_code == 404
    assert (await client.get("/dashboard/payouts?after=%00")).status_code == 200
    long_reference = await post(client, f"/dashboard/payments/{payment_id}/refund", {"reference": "r" * 201})
    assert long_reference.status_code == 422 and "at most 200 characters" in await text(long_reference)
    long_payout = await post(client, "/dashboard/payouts", {"asset": "anvil:ETH", "amount": "1", "address": ELSEWHERE,
                                                            "reference": "r" * 201})
    assert long_payout.status_code == 422
    fields = dict(re.findall(r'name="(csrf_token|nonce)" value="([^"]+)"', await text(await client.get("/dashboard/payments/new"))))
    long_order = await client.post("/dashboard/payments/new", form={**fields, "kind": "asset", "asset": "anvil:ETH",
                                                                     "amount": "1", "order_id": "o" * 201})
    assert long_order.status_code == 422 and "order_id" in await text(long_order) or "200" in await text(long_order)
    for email in ("a:b;@x.example", "():@x.example", "a,b@x.example", "x@y"):
        refused = await post(client, "/dashboard/users", {"email": email, "role": "viewer"})
        assert refused.status_code == 422 and "not an email address" in await text(refused), email


async def test_a_confirmation_nonce_is_bound_to_its_form_and_expires(app, runtime, merchant):
    from datetime import timedelta

    from ctrip_core.services.dashboard import form_once

    client = await signed_in(app, runtime, merchant)
    payment_id = await _paid_payment(client, runtime, merchant)
    review = await text(await post(client, f"/dashboard/payments/{payment_id}/refund", {"amount": "1"}))
    confirm = dict(re.findall(r'name="(\w+)" value="([^"]*)"', review))
    assert (await client.post(f"/dashboard/payments/{payment_id}/refund", form=confirm)).status_code == 303
    # the same nonce on the payout form: refused, and no "Payout created"
    reused = await client.post("/dashboard/payouts", form={**confirm, "asset": "anvil:ETH", "address": ELSEWHERE})
    assert reused.status_code == 409 and "already sent for something else" in await text(reused)
    assert await _count(runtime, Payout, Payout.merchant_id == merchant["id"], Payout.payment_id.is_(None)) == 0
    old = form_once.new_nonce(utcnow() - form_once.LIFETIME - timedelta(minutes=1))
    stale = await client.post("/dashboard/payouts", form={**confirm, "nonce": old, "asset": "anvil:ETH",
                                                          "address": ELSEWHERE})
    assert stale.status_code == 422 and "too old" in await text(stale)
    assert await _count(runtime, Payout, Payout.merchant_id == merchant["id"]) == 1  # the one refund
