"""The hosted checkout in a real headless Chromium (Debian's, via chromedriver and Selenium).

Hypercorn serves the app in a background thread with its own event loop, over a fresh PostgreSQL
database and the session's Anvil; the scanner (`scan_chain` + `confirm_step`) runs beside it in that
loop, so the page moves only because the chain moved. Payments are made on Anvil the way
`ctrip dev pay` makes them (`devnet.token.send_native`), or by the page's own "Pay with browser
wallet" button talking to an EIP-1193 provider injected before the page loads, whose
eth_sendTransaction is relayed unchanged to Anvil. Screenshots go to test-artifacts/checkout/.
"""

from __future__ import annotations

import io
import shutil
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

import browser_harness
from browser_harness import (DESKTOP, PHONE, WAIT_S, axe_violations, console_problems, format_violations, screenshot,
                             viewport)
from testbed import new_merchant
from ctrip_core.db.models import Payment
from ctrip_core.db.types import utcnow
from ctrip_core.devnet.accounts import FUNDER, FUNDER_KEY
from ctrip_core.devnet.token import send_native
from ctrip_core.money import parse_amount

CONFIRMATIONS = 2  # so "detected, 1 / 2" is a state the page must show before "confirmed"

pytestmark = pytest.mark.slow


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def artifacts() -> Path:
    return browser_harness.fresh_artifacts("checkout")


@pytest.fixture(scope="module")
def live(anvil, token, tmp_path_factory):
    with browser_harness.live_server(anvil, token, tmp_path_factory.mktemp("checkout"), scan=True,
                                     confirmations=CONFIRMATIONS) as server:
        _, api_key = server.call(lambda: new_merchant(server.runtime, "Acme Coffee Roasters"))
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {api_key}"},
                          timeout=10) as server.api:
            yield server


@pytest.fixture
def page(browser):
    """The browser, reset: no injected scripts, no emulation left over from the previous test."""
    yield browser
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    for identifier in getattr(browser, "_injected", []):
        browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": identifier})
    browser._injected = []
    browser.get("about:blank")
    browser.get_log("browser")  # drain


# --- helpers -------------------------------------------------------------------------------------

def create_payment(live, **body) -> dict:
    response = live.api.post("/v1/payments", json={"chain": "anvil"} | body)
    assert response.status_code == 201, response.text
    return response.json()


def open_checkout(driver, live, payment: dict):
    from selenium.webdriver.common.by import By

    driver.get(f"{live.base_url}/pay/{payment['id']}")
    assert driver.find_element(By.ID, "checkout").get_attribute("data-status") == "pending"
    driver.execute_script("window.__sameDocument = true;")  # gone if the page ever reloads
    return driver


def status_of(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, "checkout").get_attribute("data-status")


def wait_status(driver, wanted: str, timeout: float = WAIT_S) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: status_of(d) == wanted, message=f"page never showed {wanted!r}")


def text_of(driver, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).text.strip()


def visible(driver, element_id: str) -> bool:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).is_displayed()


def assert_no_reload_and_no_csp_violation(driver) -> None:
    assert driver.execute_script("return window.__sameDocument === true;"), "the page reloaded"
    assert console_problems(driver) == []


def decode_qr(driver, artifacts: Path) -> str:
    """Screenshot the QR element as the browser drew it and decode that image with zxing-cpp."""
    import zxingcpp
    from PIL import Image
    from selenium.webdriver.common.by import By

    png = driver.find_element(By.CSS_SELECTOR, "#qr svg").screenshot_as_png
    (artifacts / "qr-element.png").write_bytes(png)
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))
    assert len(results) == 1, f"expected one QR code, found {len(results)}"
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode
    return results[0].text


def mine(anvil, blocks: int = 1) -> None:
    for _ in range(blocks):
        anvil.rpc("evm_mine")


# --- tests ---------------------------------------------------------------------------------------

def test_native_payment_goes_live_from_pending_to_confirmed(page, live, anvil, artifacts):
    """Desktop: read amount and address from the page, pay them, watch detected → confirmed, then return."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    return_to = f"{live.base_url}/health?from=checkout"
    payment = create_payment(live, asset="ETH", amount="0.0123", order_id="A-1042", redirect_url=return_to,
                             metadata={"internal": "never-on-the-page"})
    viewport(page, DESKTOP)
    open_checkout(page, live, payment)
    assert page.title == "Pay 0.0123 ETH to Acme Coffee Roasters"
    assert text_of(page, "merchant-name") == "Acme Coffee Roasters" and text_of(page, "order-id") == "A-1042"
    assert text_of(page, "status-label") == "Awaiting payment"
    assert text_of(page, "chain-id") == "31337"
    assert "never-on-the-page" not in page.page_source
    amount, asset, address = text_of(page, "amount"), text_of(page, "asset"), text_of(page, "address")
    assert (amount, asset, address) == (payment["amount"], "ETH", payment["address"])  # grouped, read as one
    time.sleep(1.5)  # the countdown ticks (and the server's second-rounded clock is behind by < 1 s)
    assert text_of(page, "time-left").startswith("59:")
    assert decode_qr(page, artifacts) == payment["payment_uri"]
    assert visible(page, "copy-address") and not visible(page, "wallet-pay")  # no window.ethereum here
    page.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": live.base_url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    page.find_element(By.ID, "copy-address").click()
    WebDriverWait(page, 5).until(lambda d: text_of(d, "copy-address") == "Copied")
    copied = page.execute_async_script("navigator.clipboard.readText().then(arguments[0], e => arguments[0]('ERR ' + e));")
    assert copied == payment["address"]  # the grouped display copies as one string
    page.find_element(By.ID, "copy-amount").click()
    WebDriverWait(page, 5).until(lambda d: text_of(d, "copy-amount") == "Copied")
    copied = page.execute_async_script("navigator.clipboard.readText().then(arguments[0], e => arguments[0]('ERR ' + e));")
    assert copied == payment["amount"]  # nothing received yet: the whole amount is due
    assert not (found := axe_violations(page)), format_violations(found)
    screenshot(page, "desktop-1-pending", artifacts)

    send_native(anvil.rpc_url, FUNDER_KEY, address, parse_amount(amount, 18))  # as `ctrip dev pay` does

    wait_status(page, "detected")
    assert text_of(page, "status-label") == "Payment detected"
    assert "1 / 2 confirmations" in text_of(page, "status")
    assert page.execute_script("return document.getElementById('confirmations').value") == 1
    screenshot(page, "desktop-2-detected", artifacts)

    mine(anvil)  # the second confirmation
    wait_status(page, "confirmed")
    assert text_of(page, "status-label") == "Confirmed"
    assert not visible(page, "pay-to") and not visible(page, "expiry-row")
    assert visible(page, "redirect-link")
    screenshot(page, "desktop-3-confirmed", artifacts)
    assert_no_reload_and_no_csp_violation(page)

    WebDriverWait(page, 10).until(lambda d: d.current_url == return_to, message="never sent back to the merchant")


WALLET_SHIM = """
window.__walletCalls = [];
window.ethereum = {
  chainId: "0x1",
  request: function (args) {
    window.__walletCalls.push(JSON.parse(JSON.stringify(args)));
    var self = this;
    switch (args.method) {
      case "eth_requestAccounts": return Promise.resolve(["%s"]);
      case "eth_chainId": return Promise.resolve(self.chainId);
      case "wallet_switchEthereumChain": self.chainId = args.params[0].chainId; return Promise.resolve(null);
      case "eth_sendTransaction":
        return new Promise(function (resolve) { window.__walletSend = resolve; });
      default: return Promise.reject({code: 4200, message: "unsupported " + args.method});
    }
  }
};
""" % FUNDER


def test_token_payment_with_the_browser_wallet_button_on_a_phone(page, live, anvil, token, artifacts):
    """Phone width: the wallet button switches chain and sends transfer(address,uint256) for the exact amount."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    payment = create_payment(live, asset="TUSD", amount="42.75", order_id="PHONE-7")
    viewport(page, PHONE, mobile=True)
    injected = page.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WALLET_SHIM})
    page._injected = [injected["identifier"]]
    open_checkout(page, live, payment)
    assert page.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]  # no sideways scroll
    assert visible(page, "wallet-pay") and visible(page, "address") and visible(page, "qr")
    assert text_of(page, "token-address") == token
    assert decode_qr(page, artifacts) == payment["payment_uri"]
    assert not (found := axe_violations(page)), format_violations(found)
    screenshot(page, "phone-1-pending", artifacts)
    page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    assert not (found := axe_violations(page)), format_violations(found)  # the dark scheme too
    page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})

    page.find_element(By.ID, "wallet-pay").click()
    WebDriverWait(page, 10).until(lambda d: d.execute_script("return typeof window.__walletSend === 'function'"))
    calls = page.execute_script("return window.__walletCalls")
    assert [c["method"] for c in calls] == ["eth_requestAccounts", "eth_chainId", "wallet_switchEthereumChain",
                                            "eth_sendTransaction"]
    assert calls[2]["params"] == [{"chainId": "0x7a69"}]
    tx = calls[3]["params"][0]
    assert tx["from"] == FUNDER and tx["to"] == token and int(tx["value"], 16) == 0
    assert tx["data"] == ("0xa9059cbb" + payment["address"][2:].lower().rjust(64, "0")
                          + hex(42_750_000)[2:].rjust(64, "0"))

    tx_hash = anvil.rpc("eth_sendTransaction", tx)  # the wallet's job: Anvil's dev account is unlocked
    page.execute_script("window.__walletSend(arguments[0]);", tx_hash)
    WebDriverWait(page, 5).until(lambda d: tx_hash in d.find_element(By.ID, "wallet-message").text)

    wait_status(page, "detected")
    mine(anvil)
    wait_status(page, "confirmed")
    assert text_of(page, "status-label") == "Confirmed" and not visible(page, "wallet-pay")
    assert not visible(page, "redirect")  # no redirect_url: nowhere to send the payer
    assert not (found := axe_violations(page)), format_violations(found)
    screenshot(page, "phone-2-confirmed", artifacts)
    assert_no_reload_and_no_csp_violation(page)


def test_an_expiring_payment_turns_expired_live_by_polling_without_eventsource(page, live, anvil, artifacts):
    payment = create_payment(live, asset="ETH", amount="1")
    viewport(page, PHONE, mobile=True)
    injected = page.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": "delete window.EventSource;"})
    page._injected = [injected["identifier"]]
    open_checkout(page, live, payment)
    assert page.execute_script("return typeof window.EventSource") == "undefined"

    async def expire_now():
        async with live.runtime.sessions() as session, session.begin():
            await session.execute(update(Payment).where(Payment.id == payment["id"])
                                  .values(expires_at=utcnow() - timedelta(seconds=1)))

    live.call(expire_now)
    anvil.rpc("evm_mine")  # expiry waits for a scanned block at or past expires_at; the scanner then expires it
    wait_status(page, "expired")
    assert text_of(page, "status-label") == "Expired"
    assert "Do not send funds to this address" in text_of(page, "status")
    assert not visible(page, "pay-to") and not visible(page, "address")
    polled = page.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/pay/'));")
    assert any(name.endswith(f"/pay/{payment['id']}/status") for name in polled)
    assert not any(name.endswith("/events") for name in polled)
    assert not (found := axe_violations(page)), format_violations(found)
    screenshot(page, "phone-3-expired", artifacts)
    assert_no_reload_and_no_csp_violation(page)
    page.refresh()  # and it stays expired at load time
    assert status_of(page) == "expired" and not visible(page, "pay-to")


def test_a_bad_id_shows_the_404_page(page, live, artifacts):
    from selenium.webdriver.common.by import By

    viewport(page, DESKTOP)
    page.get(f"{live.base_url}/pay/pay_doesnotexist000000000000")
    assert page.title == "Payment not found"
    assert page.find_element(By.TAG_NAME, "h1").text == "Payment not found"
    assert not (found := axe_violations(page)), format_violations(found)
    screenshot(page, "desktop-4-not-found", artifacts)
    status = httpx.get(f"{live.base_url}/pay/pay_doesnotexist000000000000")
    assert status.status_code == 404 and "Content-Security-Policy" in status.headers


def test_without_javascript_the_page_still_tells_everything(live, artifacts, tmp_path):
    """A second Chromium with JavaScript disabled: address, amount, QR and status are there at load."""
    from selenium.webdriver.common.by import By

    payment = create_payment(live, asset="TUSD", amount="3.5")
    driver = browser_harness.chromium(tmp_path / "profile", tmp_path, javascript=False, size=PHONE)
    try:
        viewport(driver, PHONE, mobile=True)
        driver.get(f"{live.base_url}/pay/{payment['id']}")
        assert "no-js" in driver.find_element(By.TAG_NAME, "html").get_attribute("class")  # script did not run
        assert text_of(driver, "address") == payment["address"]
        assert text_of(driver, "amount") == "3.5" and text_of(driver, "asset") == "TUSD"
        assert text_of(driver, "status-label") == "Awaiting payment"
        assert visible(driver, "qr") and not visible(driver, "copy-address") and not visible(driver, "wallet-pay")
        assert not visible(driver, "copy-amount")
        assert decode_qr(driver, artifacts) == payment["payment_uri"]
        screenshot(driver, "phone-4-no-javascript", artifacts)
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_a_priced_payment_shows_its_price_and_the_rate_lock_ticking(page, live, artifacts):
    """A priced payment (issue 18): the price in its currency beside the crypto amount, the locked
    rate, and its lock counting down with the payment's time left."""
    from datetime import UTC, datetime

    payment = create_payment(live, asset="TUSD", amount="25.012506")

    async def priced():  # as a priced create stores it (quoting is tested in tests/pricing)
        async with live.runtime.sessions() as session, session.begin():
            await session.execute(update(Payment).where(Payment.id == payment["id"]).values(
                price_base_units=2500, price_currency="USD", rate_value="0.9995", rate_source="coinbase",
                rate_at=datetime.now(UTC)))

    live.call(priced)
    viewport(page, DESKTOP)
    open_checkout(page, live, payment)
    assert text_of(page, "price-amount") == "25.00 USD" and text_of(page, "rate") == "0.9995 USD"
    assert text_of(page, "amount") == "25.012506" and visible(page, "copy-amount")
    from selenium.webdriver.support.ui import WebDriverWait

    first = text_of(page, "rate-lock")
    WebDriverWait(page, 10).until(lambda d: text_of(d, "rate-lock") != first, message="the rate lock never ticked")
    both = page.execute_script("return [document.getElementById('rate-lock').textContent, "
                               "document.getElementById('time-left').textContent];")
    assert both[0] == both[1]  # the lock counts down with the payment's time left
    assert not (found := axe_violations(page)), format_violations(found)
    screenshot(page, "desktop-priced", artifacts)
    assert_no_reload_and_no_csp_violation(page)
