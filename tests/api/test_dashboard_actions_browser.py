"""Acting from the dashboard in a real headless Chromium (the browser harness), over Anvil with the
scanner and the webhook worker's loop running: an owner turns on TOTP and logs in with a code,
finds a paid payment by its tx hash and refunds it (review, confirm), adds a webhook endpoint,
sends it a test event and sees the attempt arrive (signed with the secret shown once), creates an
API key that works and revokes it; a viewer sees no action and is refused one. Screenshots of each
page at desktop and phone size go to test-artifacts/dashboard-actions/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import browser_harness
from browser_harness import DESKTOP, PHONE, WAIT_S, console_problems, screenshot, viewport
from ctrip_core.db.types import utcnow
from ctrip_core.devnet.accounts import FUNDER_KEY
from ctrip_core.devnet.token import send_native
from ctrip_core.services.accounts.users import add_user
from ctrip_core.services.dashboard import totp
from receiver import Receiver
from testbed import new_merchant

PASSWORD = "correct horse battery staple"
OWNER, VIEWER = "ann@acme.example", "vic@acme.example"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def artifacts() -> Path:
    return browser_harness.fresh_artifacts("dashboard-actions")


@pytest.fixture(scope="module")
def receiver():
    hooks = Receiver()
    hooks.start()
    yield hooks
    hooks.stop()


@pytest.fixture(scope="module")
def live(anvil, token, tmp_path_factory):
    import httpx

    with browser_harness.live_server(anvil, token, tmp_path_factory.mktemp("dashboard-actions"), scan=True,
                                     deliver=True, settings={"webhooks": {"allow_private_targets": True}},
                                     explorer_url="https://explorer.example") as server:
        merchant_id, api_key = server.call(lambda: new_merchant(server.runtime, "Acme Coffee Roasters"))

        async def people():
            async with server.runtime.sessions() as s, s.begin():
                await add_user(s, merchant_id, OWNER, PASSWORD, "owner")
                await add_user(s, merchant_id, VIEWER, PASSWORD, "viewer")

        server.call(people)
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {api_key}"},
                          timeout=10) as server.api:
            yield server


def _by(kind: str = "id"):
    from selenium.webdriver.common.by import By

    return {"id": By.ID, "css": By.CSS_SELECTOR}[kind]


def _wait(driver, found, message: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(found, message=message)


def _log_in(driver, live, email: str, code: str = "") -> None:
    driver.delete_all_cookies()
    driver.get(f"{live.base_url}/dashboard/login")
    driver.find_element(_by(), "email").send_keys(email)
    driver.find_element(_by(), "password").send_keys(PASSWORD)
    if code:
        driver.find_element(_by(), "code").send_keys(code)
    driver.find_element(_by(), "log-in").click()
    _wait(driver, lambda d: d.find_elements(_by(), "who") or d.find_elements(_by(), "login-error"), "no answer")


def _shoot(driver, name: str, artifacts: Path) -> None:
    """The page at desktop size, then at phone size (reloaded), then back to desktop."""
    screenshot(driver, f"desktop-{name}", artifacts)
    viewport(driver, PHONE, mobile=True)
    screenshot(driver, f"phone-{name}", artifacts)
    viewport(driver, DESKTOP)


def test_an_owner_acts_and_a_viewer_cannot(browser, live, anvil, receiver, artifacts):
    driver = browser
    viewport(driver, DESKTOP)

    # --- TOTP: turn it on, then log in with a code ---------------------------------------------
    _log_in(driver, live, OWNER)
    driver.get(f"{live.base_url}/dashboard/account")
    driver.find_element(_by(), "password").send_keys(PASSWORD)
    driver.find_element(_by(), "totp-start").click()
    secret = _wait(driver, lambda d: d.find_elements(_by(), "totp-secret"), "no secret shown")[0].text
    assert driver.find_element(_by(), "totp-qr").get_attribute("src").startswith("data:image/svg+xml;base64,")
    _shoot(driver, "1-totp-enrolment", artifacts)
    driver.find_element(_by(), "code").send_keys(totp.code_at(secret, totp.step_of(utcnow())))
    driver.find_element(_by(), "totp-confirm").click()
    _wait(driver, lambda d: "?done=on" in d.current_url, "TOTP never turned on")
    driver.find_element(_by(), "log-out").click()
    _log_in(driver, live, OWNER)  # the password alone
    assert "Wrong email, password or code" in driver.find_element(_by(), "login-error").text
    driver.get_log("browser")  # drain: the refusal is a 401, logged as a failed load
    _log_in(driver, live, OWNER, code=totp.code_at(secret, totp.step_of(utcnow()) + 1))
    assert OWNER in driver.find_element(_by(), "who").text

    # --- find a paid payment by its tx hash, refund it ----------------------------------------
    paid = live.api.post("/v1/payments", json={"chain": "anvil", "asset": "ETH", "amount": "0.0042",
                                               "order_id": "A-1042"}).json()
    tx_hash = send_native(anvil.rpc_url, FUNDER_KEY, paid["address"], 4_200_000_000_000_000)
    _wait(None, lambda _: live.api.get(f"/v1/payments/{paid['id']}").json()["status"] == "confirmed",
          "the payment was never confirmed")
    driver.get(f"{live.base_url}/dashboard")
    driver.find_element(_by(), "q").send_keys(tx_hash)
    driver.find_element(_by(), "apply").click()
    _wait(driver, lambda d: d.find_elements(_by("css"), f"#payments tr[data-id='{paid['id']}'] a"), "not found")
    driver.find_element(_by("css"), f"#payments tr[data-id='{paid['id']}'] a").click()
    driver.find_element(_by(), "refund").click()
    driver.find_element(_by(), "amount").send_keys("0.001")
    _shoot(driver, "2-refund-form", artifacts)
    driver.find_element(_by(), "review-refund").click()
    review = _wait(driver, lambda d: d.find_elements(_by(), "review-amount"), "no review")[0].text
    assert review == "0.001 ETH on anvil"
    assert live.api.get("/v1/refunds", params={"payment_id": paid["id"]}).json()["data"] == []  # nothing yet
    _shoot(driver, "3-refund-review", artifacts)
    driver.find_element(_by(), "confirm-refund").click()
    _wait(driver, lambda d: d.find_elements(_by(), "done"), "no confirmation")
    assert "Refund created" in driver.find_element(_by(), "done").text
    assert "0.001 ETH" in driver.find_element(_by(), "refunds").text
    [refund] = live.api.get("/v1/refunds", params={"payment_id": paid["id"]}).json()["data"]
    assert refund["amount"] == "0.001" and refund["status"] in ("pending", "submitted", "succeeded")
    _shoot(driver, "4-timeline-refunded", artifacts)

    # --- a webhook endpoint: secret shown once, a test event, its attempt ----------------------
    driver.get(f"{live.base_url}/dashboard/webhooks")
    driver.find_element(_by(), "url").send_keys(receiver.url)
    driver.find_element(_by(), "add-endpoint").click()
    signing_secret = _wait(driver, lambda d: d.find_elements(_by(), "signing-secret"), "no secret")[0].text
    assert signing_secret.startswith("whsec_")
    _shoot(driver, "5-endpoint-created", artifacts)
    before = len(receiver.requests)
    driver.find_element(_by(), "send-test").click()

    def attempted(d):
        d.refresh()
        return "HTTP 200" in d.find_element(_by(), "attempts").text

    _wait(driver, attempted, "the test event's attempt never appeared")
    assert signing_secret not in driver.page_source  # shown once
    tests = [(h, b) for h, b in receiver.requests[before:] if json.loads(b)["type"] == "webhook_endpoint.test"]
    assert len(tests) == 1
    from standardwebhooks import Webhook

    headers, body = tests[0]
    verified = Webhook(signing_secret).verify(body, {k.lower(): v for k, v in headers.items()})
    assert verified["data"]["url"] == receiver.url and "secret" not in verified["data"]
    _shoot(driver, "6-endpoint-attempt", artifacts)

    # --- an API key: shown once, works, revoked ----------------------------------------------
    driver.get(f"{live.base_url}/dashboard/keys")
    for box in driver.find_elements(_by("css"), "input[name=scopes]"):
        if box.get_attribute("value") != "read" and box.is_selected():
            box.click()
    driver.find_element(_by(), "create-key").click()
    key = _wait(driver, lambda d: d.find_elements(_by(), "new-key"), "no key shown")[0].text
    _shoot(driver, "7-key-created", artifacts)
    import httpx

    assert httpx.get(f"{live.base_url}/v1/payments", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    key_id = driver.find_element(_by("css"), "#key-once h2 code").text
    driver.find_element(_by("css"), f"#keys tr[data-id='{key_id}'] button.revoke").click()
    _wait(driver, lambda d: d.find_elements(_by(), "done"), "no revocation")
    assert httpx.get(f"{live.base_url}/v1/payments", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert key not in driver.page_source

    for name, path in (("8-payouts", "/dashboard/payouts"), ("9-payout-new", "/dashboard/payouts/new"),
                       ("10-balances", "/dashboard/balances"), ("11-users", "/dashboard/users"),
                       ("12-payment-new", "/dashboard/payments/new"), ("13-webhooks", "/dashboard/webhooks")):
        driver.get(live.base_url + path)
        _shoot(driver, name, artifacts)
    assert console_problems(driver) == []
    driver.find_element(_by(), "log-out").click()

    # --- a viewer: no action offered, and one asked for by URL is refused -----------------------
    _log_in(driver, live, VIEWER)
    driver.get(f"{live.base_url}/dashboard/payments/{paid['id']}")
    assert not driver.find_elements(_by(), "refund") and not driver.find_elements(_by("css"), "button.redeliver")
    driver.get(f"{live.base_url}/dashboard/payments/{paid['id']}/refund")
    assert driver.find_element(_by(), "forbidden").text == "Only an owner can do this"
    _shoot(driver, "14-viewer-refused", artifacts)
    driver.get_log("browser")  # drain: the refusal is a 403, logged as a failed load
    driver.get(f"{live.base_url}/dashboard/webhooks")
    assert not driver.find_elements(_by(), "add-endpoint")
    assert console_problems(driver) == []
