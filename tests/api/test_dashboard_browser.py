"""The dashboard in a real headless Chromium (the browser harness): log in, find a payment by the
hash of the transaction that paid it (on Anvil, seen by the scanner), see a merchant's XSS payload
as text, log out; at desktop and phone size, with no console error or CSP violation.
Screenshots go to test-artifacts/dashboard/."""

from __future__ import annotations

from pathlib import Path

import pytest

import browser_harness
from browser_harness import DESKTOP, PHONE, WAIT_S, console_problems, screenshot, viewport
from ctrip_core.devnet.accounts import FUNDER_KEY
from ctrip_core.devnet.token import send_native
from ctrip_core.services.accounts.users import add_user
from testbed import new_merchant

PASSWORD = "correct horse battery staple"
EXPLORER = "https://explorer.example"
XSS = '<img src=x onerror="document.title=\'pwned\'">'

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def artifacts() -> Path:
    return browser_harness.fresh_artifacts("dashboard")


@pytest.fixture(scope="module")
def live(anvil, token, tmp_path_factory):
    import httpx

    with browser_harness.live_server(anvil, token, tmp_path_factory.mktemp("dashboard"), scan=True,
                                     explorer_url=EXPLORER) as server:
        merchant_id, api_key = server.call(lambda: new_merchant(server.runtime, "Acme Coffee Roasters"))

        async def owner():
            async with server.runtime.sessions() as s, s.begin():
                await add_user(s, merchant_id, "ann@acme.example", PASSWORD, "owner")

        server.call(owner)
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {api_key}"},
                          timeout=10) as server.api:
            yield server


def log_in(driver, live, password: str = PASSWORD) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{live.base_url}/dashboard")
    assert driver.current_url.endswith("/dashboard/login")
    driver.find_element(By.ID, "email").send_keys("ann@acme.example")
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "log-in").click()
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.ID, "who") or d.find_elements(By.ID, "login-error"))


def test_log_in_find_a_payment_by_its_tx_hash_see_payloads_as_text_and_log_out(browser, live, anvil, artifacts):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    paid = live.api.post("/v1/payments", json={"chain": "anvil", "asset": "ETH", "amount": "0.0042",
                                               "order_id": XSS, "metadata": {"note": "<b>bold?</b>"}}).json()
    other = live.api.post("/v1/payments", json={"chain": "anvil", "asset": "ETH", "amount": "1"}).json()
    tx_hash = send_native(anvil.rpc_url, FUNDER_KEY, paid["address"], 4_200_000_000_000_000)
    WebDriverWait(None, WAIT_S, poll_frequency=0.2).until(
        lambda _: live.api.get(f"/v1/payments/{paid['id']}").json()["transfers"], message="never scanned")

    viewport(browser, DESKTOP)
    log_in(browser, live)
    assert browser.current_url.endswith("/dashboard") and "ann@acme.example" in browser.find_element(By.ID, "who").text
    rows = browser.find_elements(By.CSS_SELECTOR, "#payments tbody tr[data-id]")
    assert {r.get_attribute("data-id") for r in rows} >= {paid["id"], other["id"]}
    screenshot(browser, "desktop-1-payments", artifacts)

    search = browser.find_element(By.ID, "q")
    search.send_keys(tx_hash)
    browser.find_element(By.ID, "apply").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: "q=" in d.current_url, message="the search never ran")
    (row,) = browser.find_elements(By.CSS_SELECTOR, "#payments tbody tr[data-id]")
    assert row.get_attribute("data-id") == paid["id"]
    assert row.find_element(By.CSS_SELECTOR, ".order").text.startswith(XSS)  # shown as text, never run
    assert browser.title != "pwned" and not browser.find_elements(By.CSS_SELECTOR, "#payments img, #payments b")
    screenshot(browser, "desktop-2-found-by-tx-hash", artifacts)

    row.find_element(By.CSS_SELECTOR, "a").click()  # the payment's timeline
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.ID, "payment-id"))
    assert browser.find_element(By.ID, "payment-id").text == paid["id"]
    link = browser.find_element(By.CSS_SELECTOR, "#transfers a")
    assert link.text == tx_hash and link.get_attribute("href") == f"{EXPLORER}/tx/{tx_hash}"
    assert browser.find_element(By.CSS_SELECTOR, ".order").text == XSS and browser.title != "pwned"
    events = browser.find_element(By.ID, "events").text
    assert "payment.detected" in events and "payment.confirmed" in events
    screenshot(browser, "desktop-3-timeline", artifacts)
    browser.get(f"{live.base_url}/dashboard/payments/pay_notmine0000000000000000")
    assert browser.find_element(By.ID, "not-found").text == "No such payment"
    browser.get_log("browser")  # Chromium logs the 404 itself as a failed load

    viewport(browser, PHONE, mobile=True)
    browser.get(f"{live.base_url}/dashboard")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
    screenshot(browser, "phone-1-payments", artifacts)
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    browser.find_element(By.ID, "log-out").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: d.current_url.endswith("/dashboard/login"))
    browser.get(f"{live.base_url}/dashboard")
    assert browser.current_url.endswith("/dashboard/login")  # the session is gone
    screenshot(browser, "desktop-4-login", artifacts)
    assert console_problems(browser) == []


def test_a_wrong_password_says_so_and_every_control_is_labelled(browser, live, artifacts):
    from selenium.webdriver.common.by import By

    log_in(browser, live, "not the password at all")
    assert "Wrong email, password or code" in browser.find_element(By.ID, "login-error").text
    for control in browser.find_elements(By.CSS_SELECTOR, "input:not([type=hidden]), select"):
        label = browser.find_elements(By.CSS_SELECTOR, f"label[for='{control.get_attribute('id')}']")
        assert label and label[0].text, control.get_attribute("outerHTML")
    screenshot(browser, "desktop-5-wrong-password", artifacts)
    browser.get_log("browser")  # the 401 itself is logged by Chromium as a failed load
