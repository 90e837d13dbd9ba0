"""The dashboard's login, sessions and CSRF through the app (Quart's test client, real PostgreSQL):
a POST without its token is refused, wrong passwords lock the user out, a session ends at logout
(or everywhere), a user sees only its merchant's payments, and what a merchant wrote is text.
In a real browser: test_dashboard_browser.py."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from ctrip_core.db.models import DashboardSession
from ctrip_core.db.types import utcnow
from ctrip_core.services.dashboard import login as login_rules
from ctrip_core.services.dashboard import sessions
from dashboard_forms import PASSWORD, csrf_of, log_in, user_of
from testbed import new_merchant


@pytest.fixture
def app(runtime):
    """An app of each test's own: its login limiter (per client address) starts full."""
    from ctrip_core.api import create_app

    return create_app(runtime)


@pytest.fixture
def client(app):
    return app.test_client()


async def test_without_a_session_the_dashboard_sends_to_the_login_form(client):
    response = await client.get("/dashboard")
    assert response.status_code == 303 and response.headers["Location"].endswith("/dashboard/login")
    form = await client.get("/dashboard/login")
    csp = form.headers["Content-Security-Policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp and "form-action 'self'" in csp
    assert 'type="password"' in (await form.get_data()).decode()


async def test_log_in_see_own_payments_only_then_log_out(client, runtime, merchant, other_merchant):
    email = await user_of(runtime, merchant["id"])
    mine = await client.post("/v1/payments", json={"chain": "anvil", "asset": "ETH", "amount": "1",
                                                   "order_id": "<script>alert(1)</script>",
                                                   "metadata": {"note": "<img src=x onerror=alert(2)>"}},
                             headers=merchant["headers"])
    theirs = await client.post("/v1/payments", json={"chain": "anvil", "asset": "ETH", "amount": "2"},
                               headers=other_merchant["headers"])
    logged = await log_in(client, email)
    assert logged.status_code == 303
    cookie = logged.headers.getlist("Set-Cookie")
    assert any("ctrip_session=" in c and "HttpOnly" in c and "SameSite=Strict" in c and "Path=/dashboard" in c
               for c in cookie)
    page = (await (await client.get("/dashboard")).get_data()).decode()
    mine_id, theirs_id = (await mine.get_json())["id"], (await theirs.get_json())["id"]
    assert mine_id in page and theirs_id not in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page
    searched = (await (await client.get(f"/dashboard?q={theirs_id}")).get_data()).decode()
    assert f'data-id="{theirs_id}"' not in searched and 'id="no-payments"' in searched  # another's: nothing
    found = (await (await client.get(f"/dashboard?q={mine_id}")).get_data()).decode()
    assert f'data-id="{mine_id}"' in found

    token = csrf_of(page)
    refused = await client.post("/dashboard/logout", form={})
    assert refused.status_code == 403 and (await client.get("/dashboard")).status_code == 200  # still in
    out = await client.post("/dashboard/logout", form={"csrf_token": token})
    assert out.status_code == 303 and (await client.get("/dashboard")).status_code == 303


async def test_a_login_post_without_its_token_is_refused(app, runtime, merchant):
    email = await user_of(runtime, merchant["id"], "viewer")
    client = app.test_client()
    response = await client.post("/dashboard/login", form={"email": email, "password": PASSWORD})
    assert response.status_code == 403 and "ctrip_session=" not in " ".join(response.headers.getlist("Set-Cookie"))
    forged = await client.post("/dashboard/login", form={"email": email, "password": PASSWORD, "csrf_token": "x"})
    assert forged.status_code == 403
    # a cookie planted by someone else (a sibling subdomain can set one), with the same value in the form
    client.set_cookie("localhost", "ctrip_login_csrf", "planted", path="/dashboard")
    planted = await client.post("/dashboard/login", form={"email": email, "password": PASSWORD, "csrf_token": "planted"})
    assert planted.status_code == 403 and "ctrip_session=" not in " ".join(planted.headers.getlist("Set-Cookie"))
    # a token fetched from us, planted by a sibling subdomain and posted from its page
    for headers in ({"Sec-Fetch-Site": "same-site"}, {"Origin": "https://evil.shop.example"}):
        token = csrf_of((await (await client.get("/dashboard/login")).get_data()).decode())
        sibling = await client.post("/dashboard/login", form={"email": email, "password": PASSWORD, "csrf_token": token},
                                    headers=headers)
        assert sibling.status_code == 403, headers
    token = csrf_of((await (await client.get("/dashboard/login")).get_data()).decode())
    same = await client.post("/dashboard/login", form={"email": email, "password": PASSWORD, "csrf_token": token},
                             headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"})
    assert same.status_code == 303


async def test_wrong_passwords_lock_the_user_out_and_unknown_emails_say_the_same(app, runtime):
    merchant_id, _ = await new_merchant(runtime, "locked")
    email = await user_of(runtime, merchant_id)
    client = app.test_client()
    unknown = await log_in(client, "nobody@shop.example")
    wrong = await log_in(client, email, "wrong password!!")
    assert unknown.status_code == wrong.status_code == 401
    assert b"Wrong email, password or code" in await unknown.get_data() and b"Wrong email, password or code" in await wrong.get_data()
    for _ in range(login_rules.MAX_FAILURES - 1):
        await log_in(client, email, "wrong password!!")
    locked = await log_in(client, email)  # the right password, during the lockout
    assert locked.status_code == 401 and "ctrip_session=" not in " ".join(locked.headers.getlist("Set-Cookie"))
    from ctrip_core.api import create_app

    elsewhere = create_app(runtime).test_client()  # a limiter of its own: the per-address limit aside
    for _ in range(login_rules.MAX_FAILURES):
        await log_in(elsewhere, "nobody@shop.example", "wrong password!!")
    nobody = await log_in(elsewhere, "nobody@shop.example")
    page_of = lambda body: re.sub(r'value="[^"]*"', "", body.decode())  # noqa: E731 - the form's tokens differ
    assert page_of(await nobody.get_data()) == page_of(await locked.get_data()).replace(email, "nobody@shop.example")


async def test_sessions_expire_and_log_out_everywhere_ends_them_all(app, runtime):
    merchant_id, _ = await new_merchant(runtime, "everywhere")
    email = await user_of(runtime, merchant_id)
    first, second = app.test_client(), app.test_client()
    await log_in(first, email)
    await log_in(second, email)
    page = (await (await first.get("/dashboard")).get_data()).decode()
    assert (await second.get("/dashboard")).status_code == 200
    await first.post("/dashboard/logout", form={"csrf_token": csrf_of(page), "everywhere": "1"})
    assert (await second.get("/dashboard")).status_code == 303

    async with runtime.sessions() as s, s.begin():
        from ctrip_core.db.models import DashboardUser
        from sqlalchemy import select

        user = await s.scalar(select(DashboardUser).where(DashboardUser.email == email))
        token = await sessions.start(s, user, utcnow() - sessions.IDLE - timedelta(seconds=1))
    async with runtime.sessions() as s, s.begin():
        assert await sessions.current(s, token, utcnow()) is None  # idle too long: gone
    async with runtime.sessions() as s:
        assert await s.get(DashboardSession, sessions._id(token)) is None


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/login", "/dashboard/logout"])
async def test_the_dashboard_is_not_in_the_api_reference(client, path):
    spec = await (await client.get("/openapi.json")).get_json()
    assert not [p for p in spec["paths"] if p.startswith("/dashboard")]


async def test_logins_from_one_address_are_rate_limited(client, runtime, merchant):
    email = await user_of(runtime, merchant["id"], "viewer")
    answers = [(await log_in(client, email, "wrong password!!")).status_code for _ in range(12)]
    assert answers[:5] == [401] * 5 and answers[-1] == 429


async def test_a_payments_timeline_is_its_merchants_only(client, runtime, merchant, other_merchant):
    email = await user_of(runtime, merchant["id"], "viewer")
    mine = await (await client.post("/v1/payments", json={"chain": "anvil", "asset": "ETH", "amount": "1"},
                                    headers=merchant["headers"])).get_json()
    theirs = await (await client.post("/v1/payments", json={"chain": "anvil", "asset": "ETH", "amount": "1"},
                                      headers=other_merchant["headers"])).get_json()
    await log_in(client, email)
    page = await client.get(f"/dashboard/payments/{mine['id']}")
    assert page.status_code == 200 and mine["address"] in (await page.get_data()).decode()
    for other in (theirs["id"], "pay_nothing", "x" * 5000, "%00"):
        refused = await client.get(f"/dashboard/payments/{other}")
        assert refused.status_code == 404 and theirs["address"] not in (await refused.get_data()).decode()


@pytest.mark.parametrize("url, ok", [("https://etherscan.io", True), ("https://x.example/eth/", True),
                                     ("javascript:alert(1)", False), ('https://x.example/"><script>', False),
                                     ("ftp://x.example", False)])
def test_an_explorer_url_is_an_http_url_or_refused(url, ok):
    from pydantic import ValidationError

    from ctrip_core.config import ChainConfig

    entry = {"name": "c", "adapter": "evm", "chain_id": 1, "rpc_url": "http://127.0.0.1:1",
             "native": {"symbol": "ETH", "decimals": 18}, "explorer_url": url}
    if ok:
        assert ChainConfig.model_validate(entry).explorer_url == url
    else:
        with pytest.raises(ValidationError):
            ChainConfig.model_validate(entry)


async def test_odd_input_is_never_a_500(client, runtime, merchant):
    email = await user_of(runtime, merchant["id"], "viewer")
    assert (await log_in(client, "a\x00@b.example")).status_code == 401
    await log_in(client, email)
    for query in ("q=%00", "q=pay_%00x", "after=%00", "after=pay_nope", "status=bogus&chain=nowhere", "q=" + "x" * 5000):
        response = await client.get(f"/dashboard?{query}")
        assert response.status_code == 200, query


async def test_the_session_cookie_is_secure_unless_on_this_machine(client, runtime, merchant):
    email = await user_of(runtime, merchant["id"], "viewer")
    form = await client.get("/dashboard/login", headers={"Host": "pay.example.com"})
    token = csrf_of((await form.get_data()).decode())
    assert "Secure" in form.headers["Set-Cookie"]
    logged = await client.post("/dashboard/login", headers={"Host": "pay.example.com"},
                               form={"email": email, "password": PASSWORD, "csrf_token": token})
    assert logged.status_code == 303 and "Secure" in logged.headers["Set-Cookie"]
    local = await client.get("/dashboard/login")  # Host: localhost (ctrip dev)
    assert "Secure" not in local.headers["Set-Cookie"]
