"""axe-core over every dashboard page in the real headless Chromium (issue 20): no serious or critical
violation on any page, at desktop and phone size and in the dark colour scheme.

A page is one line of PAGES: a name, its path (formatted with the ids the `live` fixture made), a CSS
selector only that page shows (so the check ran on the page it meant, not on the login form it was
sent to), whether it needs the user logged in, and optionally what to do on it first. The last tests
break a page on purpose in the live DOM, so that a check finding nothing cannot pass silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

import browser_harness
from browser_harness import DESKTOP, PHONE, WAIT_S, axe_violations, format_violations, viewport
from ctrip_core.devnet.accounts import FUNDER_KEY
from ctrip_core.devnet.token import send_native
from ctrip_core.services.accounts.users import add_user
from testbed import new_merchant

EMAIL, PASSWORD = "ann@acme.example", "correct horse battery staple"
SESSION_COOKIE = "ctrip_session"

pytestmark = pytest.mark.slow


def wrong_password(driver) -> None:
    """Submit the login form for an email of no one (no user's lockout counts it), to see the refusal."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "email").send_keys("nobody@acme.example")
    driver.find_element(By.ID, "password").send_keys("not the password")
    driver.find_element(By.ID, "log-in").click()


def click(element_id: str) -> Callable:
    """A `then`: press the button of this id (a form's submit)."""
    def press(driver) -> None:
        from selenium.webdriver.common.by import By

        driver.find_element(By.ID, element_id).click()
    return press


@dataclass(frozen=True)
class Page:
    name: str
    path: str  # formatted with `live.ids`
    shows: str  # a CSS selector that only this page matches
    logged_in: bool = True
    then: Callable | None = None  # done on the page before the check, e.g. submitting a form


PAGES = [
    Page("login", "/dashboard/login", "#log-in", logged_in=False),
    Page("login-refused", "/dashboard/login", "#login-error", logged_in=False, then=wrong_password),
    Page("payments", "/dashboard", "#payments tbody tr[data-id]"),
    Page("payments-filtered", "/dashboard?chain=anvil", "#payments tr[data-id='{paid}']"),
    Page("payments-by-status", "/dashboard?status=confirmed", "#payments tr[data-id='{paid}']"),
    Page("search-found", "/dashboard?q={tx_hash}", "#payments tr[data-id='{paid}']"),
    Page("search-none", "/dashboard?q=nothing-has-this", "#no-payments"),
    Page("timeline", "/dashboard/payments/{paid}", "#transfers a"),
    Page("timeline-nothing-yet", "/dashboard/payments/{pending}", "#payment-id"),
    Page("not-found", "/dashboard/payments/pay_notmine0000000000000000", "#not-found"),
    Page("payment-new", "/dashboard/payments/new", "#create-payment"),
    Page("links", "/dashboard/links", "#links"),
    Page("link-new", "/dashboard/links/new", "#create-link"),
    Page("refund", "/dashboard/payments/{paid}/refund", "#review-refund"),
    Page("refund-review", "/dashboard/payments/{paid}/refund", "#confirm-refund", then=click("review-refund")),
    Page("payouts", "/dashboard/payouts", "#payouts"),
    Page("payout-new", "/dashboard/payouts/new", "#review-payout"),
    Page("balances", "/dashboard/balances", "#balances"),
    Page("webhooks", "/dashboard/webhooks", "#endpoints tr[data-id='{endpoint}']"),
    Page("webhook", "/dashboard/webhooks/{endpoint}", "#attempts"),
    Page("keys", "/dashboard/keys", "#create-key"),
    Page("key-created", "/dashboard/keys", "#new-key", then=click("create-key")),
    Page("users", "/dashboard/users", "#invite"),
    Page("account", "/dashboard/account", "#totp-start"),
]


def page_named(name: str) -> Page:
    return next(p for p in PAGES if isinstance(p, Page) and p.name == name)


VIEWS = {  # name: (size, mobile, prefers-color-scheme)
    "desktop": (DESKTOP, False, "light"),
    "phone": (PHONE, True, "light"),
    "desktop-dark": (DESKTOP, False, "dark"),
}


@pytest.fixture(scope="module")
def live(anvil, token, tmp_path_factory):
    """The app with a scanner, a merchant with its owner, a paid (confirmed) payment and a pending one."""
    import httpx
    from selenium.webdriver.support.ui import WebDriverWait

    with browser_harness.live_server(anvil, token, tmp_path_factory.mktemp("a11y"), scan=True,
                                     explorer_url="https://explorer.example") as server:
        merchant_id, api_key = server.call(lambda: new_merchant(server.runtime, "Acme Coffee Roasters"))

        async def owner():
            async with server.runtime.sessions() as s, s.begin():
                await add_user(s, merchant_id, EMAIL, PASSWORD, "owner")

        server.call(owner)
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {api_key}"},
                          timeout=10) as api:
            paid = api.post("/v1/payments", json={"chain": "anvil", "asset": "ETH", "amount": "0.0042",
                                                  "order_id": "A-1042", "metadata": {"note": "gift"}}).json()
            pending = api.post("/v1/payments", json={"chain": "anvil", "asset": "TUSD", "amount": "5"}).json()
            endpoint = api.post("/v1/webhook-endpoints", json={"url": "https://shop.example/hooks"}).json()
            tx_hash = send_native(anvil.rpc_url, FUNDER_KEY, paid["address"], 4_200_000_000_000_000)
            WebDriverWait(None, WAIT_S, poll_frequency=0.2).until(
                lambda _: api.get(f"/v1/payments/{paid['id']}").json()["status"] == "confirmed",
                message="the payment was never confirmed")
        server.ids = {"paid": paid["id"], "pending": pending["id"], "tx_hash": tx_hash, "endpoint": endpoint["id"]}
        yield server


@pytest.fixture(scope="module")
def session_cookie(browser, live) -> dict:
    """The owner's session cookie, logged in once: put back before each page that needs it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{live.base_url}/dashboard/login")
    browser.find_element(By.ID, "email").send_keys(EMAIL)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "log-in").click()
    WebDriverWait(browser, WAIT_S).until(lambda d: d.find_elements(By.ID, "who"), message="never logged in")
    return browser.get_cookie(SESSION_COOKIE)


@pytest.fixture
def driver(browser):
    """The browser, its viewport and colour scheme reset after the test."""
    yield browser
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    browser.get_log("browser")  # drain: the 401 and 404 pages are logged as failed loads


def open_page(driver, live, cookie: dict, page: Page, view: str = "desktop"):
    """`page` at `view`, logged in with `cookie` or logged out as the page wants."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    size, mobile, scheme = VIEWS[view]
    viewport(driver, size, mobile)
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                           {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
    driver.delete_all_cookies()
    if page.logged_in:
        driver.execute_cdp_cmd("Network.setCookie", {
            "name": cookie["name"], "value": cookie["value"], "url": live.base_url + cookie["path"],
            "path": cookie["path"], "httpOnly": True, "sameSite": "Strict"})
    driver.get(live.base_url + page.path.format(**live.ids))
    if page.then is not None:
        page.then(driver)
    shows = page.shows.format(**live.ids)
    try:
        wait = WAIT_S if page.then else 0  # `get` returns once the page has loaded; a submitted form may not
        WebDriverWait(driver, wait).until(lambda d: d.find_elements(By.CSS_SELECTOR, shows))
    except TimeoutException:
        raise AssertionError(f"{page.name}: no {shows} at {driver.current_url}") from None
    return driver


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_serious_or_critical_violation(driver, live, session_cookie, page, view):
    open_page(driver, live, session_cookie, page, view)
    found = axe_violations(driver)
    if found:
        pytest.fail(f"{page.name} ({view}) at {driver.current_url}:\n{format_violations(found)}", pytrace=False)


# --- the check itself can fail -------------------------------------------------------------------

def test_a_control_whose_label_is_removed_is_reported(driver, live, session_cookie):
    open_page(driver, live, session_cookie, page_named("login"))
    assert axe_violations(driver) == []
    driver.execute_script("document.querySelector(\"label[for='email']\").remove();")
    found = axe_violations(driver)
    assert [(v["id"], v["impact"]) for v in found] == [("label", "critical")], format_violations(found)
    assert [n["target"] for n in found[0]["nodes"]] == ["#email"]
    assert "#email" in format_violations(found)


def test_text_of_too_little_contrast_is_reported(driver, live, session_cookie):
    open_page(driver, live, session_cookie, page_named("payments"))
    driver.execute_script("document.querySelector('h1').style.color = '#ccc';")  # CSSOM: the CSP allows it
    found = axe_violations(driver)
    assert [(v["id"], v["impact"]) for v in found] == [("color-contrast", "serious")], format_violations(found)
    assert [n["target"] for n in found[0]["nodes"]] == ["h1"]


def test_without_axe_installed_it_says_what_to_run(monkeypatch, tmp_path):
    monkeypatch.setattr(browser_harness, "AXE_JS", tmp_path / "axe.min.js")
    with pytest.raises(RuntimeError, match="make install"):
        axe_violations(None)
