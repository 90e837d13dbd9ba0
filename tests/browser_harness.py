"""The browser harness: the app served live, and Debian's Chromium driven through chromedriver.

- `LiveServer`: the API app under Hypercorn in a background thread with its own event loop, over a
  database and a chains file; with `scan=True`, the scanner (`scan_chain` + `confirm_step`) runs
  beside it in that loop, so pages move only because the chain moved; with `deliver=True`, the
  webhook worker's work too (dispatch the outbox, send what is due); `settings` overrides settings.
- `chromium(profile_dir, log_dir)`: a headless Chromium whose console log the tests read (or,
  `javascript=False`, one with scripts off).
- `live_server(...)`, `chromium_session(...)`, `fresh_artifacts(name)`: what the modules' fixtures are made of.
- `viewport`, `screenshot`, `console_problems`: what the browser tests share.
- `axe_violations(driver, impacts=("serious", "critical"), disable=())`: axe-core (npm, pinned in
  .tools/package.json) run over the page now open, its violations of those impacts as dicts (`id`,
  `impact`, `help`, `nodes`: each node's `target` selector, `html` and `summary`), the rule ids in
  `disable` not run; `format_violations` prints them for a failure message. axe is injected through WebDriver's script execution (CDP), which the page's
  Content-Security-Policy does not govern, so pages allowing no script at all are checked as served.

Used by tests/checkout/test_checkout_browser.py, tests/api/test_docs_browser.py (the API reference),
tests/api/test_dashboard_browser.py and tests/api/test_dashboard_a11y.py (axe over each dashboard page).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
from contextlib import contextmanager
from pathlib import Path

import httpx

from ctrip_core.devnet.anvil import free_port
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from testbed import create_database, drop_database, make_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
AXE_JS = Path(__file__).resolve().parents[1] / ".tools/node_modules/axe-core/axe.min.js"
DESKTOP = (1280, 800)
PHONE = (390, 844)
WAIT_S = 20

log = logging.getLogger(__name__)

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):  # `make test` installs them: never skip silently
    raise RuntimeError(f"{CHROMIUM} and {CHROMEDRIVER} are needed: run `bash scripts/ensure-chromium.sh`")


class LiveServer:
    """The app under Hypercorn (plus, with `scan`, a scanner loop), in one background thread and loop."""

    def __init__(self, database_url: str, chains_file: Path, *, scan: bool = False, deliver: bool = False,
                 chain: str = "anvil", settings: dict | None = None):
        self.database_url, self.chains_file, self.scan, self.chain = database_url, chains_file, scan, chain
        self.deliver, self.settings = deliver, settings or {}
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.loop: asyncio.AbstractEventLoop | None = None
        self.runtime = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-server", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30) or self.error is not None:
            raise RuntimeError(f"the live server did not start: {self.error!r}")

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
        self.runtime = build_runtime(make_settings(self.database_url, self.chains_file, **self.settings), "api")
        app = create_app(self.runtime)
        if self.scan:
            await scan_chain(self.runtime, self.chain)  # the cursor starts at the head
        config = Config()
        config.bind = [f"127.0.0.1:{self.port}"]
        config.graceful_timeout = 2
        config.accesslog = None
        server = asyncio.create_task(serve(app, config, shutdown_trigger=self._stop.wait))
        loops = [asyncio.create_task(loop()) for loop, wanted in ((self._scan_loop, self.scan),
                                                                   (self._deliver_loop, self.deliver)) if wanted]
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
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self.runtime.close()

    async def _scan_loop(self) -> None:
        from ctrip_core.services.watching.confirming import confirm_step
        from ctrip_core.services.watching.scanning import scan_chain

        while True:
            try:
                await scan_chain(self.runtime, self.chain)
                await confirm_step(self.runtime, self.chain)
            except Exception:  # noqa: BLE001 - keep scanning; a failing test shows what is missing
                log.exception("scanner step failed")
            await asyncio.sleep(0.2)

    async def _deliver_loop(self) -> None:
        """What the webhook worker does: dispatch the outbox to the notifiers, send what is due (to
        127.0.0.1 too: the tests' receivers)."""
        from ctrip_core.plugins import collect_notifiers
        from ctrip_core.services.outbox.dispatch import dispatch_events
        from ctrip_core.services.webhooks.delivery_sender import deliver_due
        from ctrip_core.services.webhooks.transport import webhook_client

        notifiers = collect_notifiers(self.runtime.pm, self.runtime.settings)
        async with webhook_client(allow_private=True) as http:
            while True:
                try:
                    await dispatch_events(self.runtime, notifiers)
                    await deliver_due(self.runtime, http)
                except Exception:  # noqa: BLE001 - keep delivering; a failing test shows what is missing
                    log.exception("delivery step failed")
                await asyncio.sleep(0.2)

    def call(self, make_coro, timeout: float = 30):
        """Run a coroutine in the server's loop (its runtime's pool lives there) and return its result."""
        return asyncio.run_coroutine_threadsafe(make_coro(), self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)


@contextmanager
def live_server(anvil, token: str, workdir: Path, *, scan: bool = False, deliver: bool = False,
                settings: dict | None = None, **chains_options):
    """A LiveServer over a fresh migrated database and a chains file for `anvil` (and `token`)."""
    database = create_database()
    chains = write_anvil_chains_file(workdir / "chains.yaml", anvil.rpc_url, token, **chains_options)
    server = LiveServer(database, chains, scan=scan, deliver=deliver, settings=settings)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        drop_database(database)


@contextmanager
def chromium_session(tmp_path_factory):
    """One Chromium for a test module, quit at the end."""
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"), tmp_path_factory.mktemp("chromedriver"))
    try:
        yield driver
    finally:
        driver.quit()


def fresh_artifacts(name: str) -> Path:
    """test-artifacts/<name>/, emptied of the previous run's screenshots."""
    folder = ARTIFACTS / name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


def chromium(profile_dir: Path, log_dir: Path, *, javascript: bool = True, size: tuple[int, int] = DESKTOP):
    """A headless Chromium (Debian's) under chromedriver, its console log kept; the caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--window-size={size[0]},{size[1]}",
                 f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    if not javascript:
        options.add_argument("--blink-settings=scriptEnabled=false")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(log_dir / "log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(WAIT_S)
    return driver


def viewport(driver, size: tuple[int, int], mobile: bool = False) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": mobile})


def screenshot(driver, name: str, artifacts: Path, full_page: bool = True) -> Path:
    """A PNG of the whole page (not just the viewport) under `artifacts`."""
    path = artifacts / f"{name}.png"
    params = {"format": "png"}
    if full_page:
        size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        params |= {"captureBeyondViewport": True,
                   "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}
    path.write_bytes(base64.b64decode(driver.execute_cdp_cmd("Page.captureScreenshot", params)["data"]))
    return path


def console_problems(driver) -> list[str]:
    """The console's errors and Content-Security-Policy reports since the log was last read."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" or "Content Security Policy" in entry["message"]]


_AXE_RUN = """
const [impacts, disabled, done] = arguments;
const rules = Object.fromEntries(disabled.map(id => [id, {enabled: false}]));
axe.run(document, {resultTypes: ["violations"], rules}).then(results => done(results.violations
    .filter(v => impacts.includes(v.impact))
    .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => (
        {target: n.target.join(" "), html: n.html, summary: n.failureSummary}))}))),
  error => done({error: String(error)}));
"""


def axe_violations(driver, impacts=("serious", "critical"), disable: tuple[str, ...] = ()) -> list[dict]:
    """axe-core's violations of `impacts` on the page open in `driver` (rules in `disable` not run).

    Injected once per document through WebDriver (CDP), outside the page's CSP; an empty list is a pass.
    """
    if not AXE_JS.exists():
        raise RuntimeError(f"{AXE_JS} is missing: run `make install` (npm ci --prefix .tools)")
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(AXE_JS.read_text(encoding="utf-8"))
    found = driver.execute_async_script(_AXE_RUN, list(impacts), list(disable))
    if isinstance(found, dict):
        raise RuntimeError(f"axe-core failed on {driver.current_url}: {found['error']}")
    return found


def format_violations(violations: list[dict]) -> str:
    """One paragraph per violated rule: impact, id, what to do, and each offending node."""
    return "\n".join(f"[{v['impact']}] {v['id']}: {v['help']}\n" + "\n".join(
        f"    {n['target']}  {n['html'][:160]}\n      " + "; ".join(
            line.strip() for line in (n["summary"] or "").splitlines() if line.strip()) for n in v["nodes"])
        for v in violations)
