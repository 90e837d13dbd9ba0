"""/docs in a real headless Chromium: the vendored Redoc renders the reference from /openapi.json
under the page's strict Content-Security-Policy, with nothing fetched from anywhere but the server.

Screenshots (desktop and phone) go to test-artifacts/docs/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import browser_harness
from browser_harness import (DESKTOP, PHONE, WAIT_S, axe_violations, console_problems, format_violations, screenshot,
                             viewport)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def artifacts() -> Path:
    return browser_harness.fresh_artifacts("docs")


@pytest.fixture(scope="module")
def live(anvil, token, tmp_path_factory):
    with browser_harness.live_server(anvil, token, tmp_path_factory.mktemp("docs")) as server:
        yield server


def open_docs(driver, live):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{live.base_url}/docs")
    WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".api-content h1"), message="Redoc never rendered")
    return driver


def resources_outside(driver, base_url: str) -> list[str]:
    """Every resource the page loaded (scripts, the spec, fonts, images) not from the server itself."""
    names = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    return [name for name in names if not name.startswith((base_url + "/", "blob:", "data:"))]


def test_redoc_renders_the_reference_under_the_strict_csp(browser, live, artifacts):
    from selenium.webdriver.common.by import By

    viewport(browser, DESKTOP)
    page = open_docs(browser, live)
    assert page.find_element(By.CSS_SELECTOR, ".api-content h1").text.startswith("cTrip merchant API")
    text = page.find_element(By.CSS_SELECTOR, ".api-content").text
    for operation in ("POST\n/v1/payments", "/v1/payouts", "/v1/payments/{payment_id}/refunds"):
        assert operation in text, operation
    assert "Idempotency-Key" in text  # the header documented on each POST
    menu = page.find_element(By.CSS_SELECTOR, ".menu-content").get_attribute("textContent")
    assert "payment.confirmed" in menu and "payout.failed" in menu  # the webhooks, one per event type
    assert console_problems(page) == []  # no CSP violation, no script error
    assert resources_outside(page, live.base_url) == []
    # axe-core (once: ~12 s over Redoc's DOM); Redoc's own findings are all moderate (heading-order, region)
    assert not (found := axe_violations(page)), format_violations(found)
    screenshot(page, "docs-desktop", artifacts, full_page=False)


def test_the_reference_reads_on_a_phone(browser, live, artifacts):
    from selenium.webdriver.common.by import By

    viewport(browser, PHONE, mobile=True)
    page = open_docs(browser, live)
    width = page.execute_script("return document.documentElement.scrollWidth")
    assert width <= PHONE[0]  # nothing wider than the screen
    assert page.find_element(By.CSS_SELECTOR, ".api-content h1").is_displayed()
    assert console_problems(page) == []
    screenshot(page, "docs-phone", artifacts, full_page=False)
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_page_sends_its_csp_and_holds_no_inline_script(live):
    import re

    import httpx

    response = httpx.get(f"{live.base_url}/docs")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "default-src 'none'" in csp and "unsafe-eval" not in csp
    page = response.text
    assert re.findall(r"<script\b[^>]*>", page) == [f'<script src="{m}">' for m in
                                                    re.findall(r'<script src="([^"]+)">', page)]
    assert all(not body.strip() for body in re.findall(r"<script\b[^>]*>(.*?)</script>", page, re.S))
    script = httpx.get(live.base_url + re.search(r'<script src="([^"]+)">', page).group(1))
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert len(script.content) > 500_000  # the vendored Redoc bundle, not a stub


def test_without_javascript_the_page_lists_every_operation(live, artifacts, tmp_path):
    from selenium.webdriver.common.by import By

    driver = browser_harness.chromium(tmp_path / "profile", tmp_path, javascript=False)
    try:
        driver.get(f"{live.base_url}/docs")
        rows = driver.find_elements(By.CSS_SELECTOR, "noscript table tr, table tr")
        text = driver.find_element(By.TAG_NAME, "body").text
        assert "POST /v1/payouts" in text and "GET /v1/payments/{payment_id}" in text, text[:500]
        assert len(rows) > 30
        screenshot(driver, "docs-no-javascript", artifacts)
    finally:
        driver.quit()
