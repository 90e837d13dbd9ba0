"""The hosted checkout in a real headless Chromium (Debian's, via chromedriver and Selenium).

Hypercorn serves the app in a background thread with its own event loop, over a fresh PostgreSQL
database and the session's Anvil; the scanner (`scan_chain` + `confirm_step`) runs beside it in that
loop, so the page moves only because the chain moved. Payments are made on Anvil the way
`ctrip dev pay` makes them (`devnet.token.send_native`), or by the page's own "Pay with browser
wallet" button talking to an EIP-1193 provider injected before the page loads, whose
eth_sendTransaction is relayed unchanged to Anvil. Screenshots go to test-artifacts/checkout/.
"""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from testbed import create_database, drop_database, make_settings, new_merchant
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from ctrip_core.db.models import Payment
from ctrip_core.db.types import utcnow
from ctrip_core.devnet.accounts import FUNDER, FUNDER_KEY
from ctrip_core.devnet.anvil import free_port
from ctrip_core.devnet.token import send_native
from ctrip_core.money import parse_amount

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "checkout"
DESKTOP = (1280, 800)
PHONE = (390, 844)
CONFIRMATIONS = 2  # so "detected, 1 / 2" is a state the page must show before "confirmed"
WAIT_S = 20

log = logging.getLogger(__name__)
pytestmark = pytest.mark.slow

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):  # `make test` installs them: never skip silently
    raise RuntimeError(f"{CHROMIUM} and {CHROMEDRIVER} are needed: run `bash scripts/ensure-chromium.sh`")


class LiveCheckout:
    """The app under Hypercorn plus a scanner loop, in one background thread and event loop."""

    def __init__(self, database_url: str, chains_file: Path):
        self.database_url, self.chains_file = database_url, chains_file
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.loop: asyncio.AbstractEventLoop | None = None
        self.runtime = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-checkout", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30) or self.error is not None:
            raise RuntimeError(f"the checkout server did not start: {self.error!r}")

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self.error = exc
            self._ready.set()

    async def _main(self) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        from ctrip_core.api import create_app
        from ctrip_core.runtime import build_runtime
        from ctrip_core.services.watching.scanning import scan_chain

        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.runtime = build_runtime(make_settings(self.database_url, self.chains_file), "api")
        app = create_app(self.runtime)
        await scan_chain(self.runtime, "anvil")  # the cursor starts at the head
        config = Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.graceful_timeout = 2
        config.accesslog = None
        server = asyncio.create_task(serve(app, config, shutdown_trigger=self._stop.wait))
        scanner = asyncio.create_task(self._scan_loop())
        try:
            while not server.done():
                try:
                    async with httpx.AsyncClient() as client:
                        if (await client.get(self.base_url + "/health", timeout=1)).status_code == 200:
                            break
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
            self._ready.set()
            await server
        finally:
            scanner.cancel()
            await asyncio.gather(scanner, return_exceptions=True)
            await self.runtime.close()

    async def _scan_loop(self) -> None:
        from ctrip_core.services.watching.confirming import confirm_step
        from ctrip_core.services.watching.scanning import scan_chain

        while True:
            try:
                await scan_chain(self.runtime, "anvil")
                await confirm_step(self.runtime, "anvil")
            except Exception:  # noqa: BLE001 - keep scanning; a failing test shows what is missing
                log.exception("scanner step failed")
            await asyncio.sleep(0.2)

    def call(self, make_coro, timeout: float = 30):
        """Run a coroutine in the server's loop (its runtime's pool lives there) and return its result."""
        return asyncio.run_coroutine_threadsafe(make_coro(), self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return ARTIFACTS


@pytest.fixture(scope="module")
def live(anvil, token, tmp_path_factory):
    database = create_database()
    chains = write_anvil_chains_file(tmp_path_factory.mktemp("checkout") / "chains.yaml", anvil.rpc_url, token,
                               confirmations=CONFIRMATIONS)
    server = LiveCheckout(database, chains)
    try:
        server.start()
        _, api_key = server.call(lambda: new_merchant(server.runtime, "Acme Coffee Roasters"))
        server.api = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {api_key}"},
                                  timeout=10)
        yield server
        server.api.close()
    finally:
        server.stop()
        drop_database(database)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path_factory.mktemp("chromedriver") / "log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser):
    """The browser, reset: no injected scripts, no emulation left over from the previous test."""
    yield browser
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    for identifier in getattr(browser, "_injected", []):
        browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": identifier})
    browser._injected = []
    browser.get("about:blank")
    browser.get_log("browser")  # drain


# --- helpers -------------------------------------------------------------------------------------

def viewport(driver, size: tuple[int, int], mobile: bool = False) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": mobile})


def screenshot(driver, name: str, artifacts: Path, full_page: bool = True) -> Path:
    """A PNG of the whole page (not just the viewport) under test-artifacts/checkout/."""
    import base64

    path = artifacts / f"{name}.png"
    params = {"format": "png"}
    if full_page:
        size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        params |= {"captureBeyondViewport": True,
                   "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}
    path.write_bytes(base64.b64decode(driver.execute_cdp_cmd("Page.captureScreenshot", params)["data"]))
    return path


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
    problems = [entry["message"] for entry in driver.get_log("browser")
                if entry["level"] == "SEVERE" or "Content Security Policy" in entry["message"]]
    assert problems == []


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
    screenshot(page, "phone-1-pending", artifacts)

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
    screenshot(page, "desktop-4-not-found", artifacts)
    status = httpx.get(f"{live.base_url}/pay/pay_doesnotexist000000000000")
    assert status.status_code == 404 and "Content-Security-Policy" in status.headers


def test_without_javascript_the_page_still_tells_everything(live, artifacts, tmp_path):
    """A second Chromium with JavaScript disabled: address, amount, QR and status are there at load."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    payment = create_payment(live, asset="TUSD", amount="3.5")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--blink-settings=scriptEnabled=false",
                 f"--window-size={PHONE[0]},{PHONE[1]}", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
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
    screenshot(page, "desktop-priced", artifacts)
    assert_no_reload_and_no_csp_violation(page)
