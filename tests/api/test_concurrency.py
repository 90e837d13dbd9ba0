"""Concurrent creates never share an address or a derivation index (CONTRACT §3: "unique to this
payment, never reused").

PostgreSQL: 200 creates at once from two merchants against a real `ctrip api` (Hypercorn, two
worker processes, so two connection pools race on the sequence). SQLite: 50 at once through the
in-process app, where the allocation counter row is the only serialisation.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from testbed import REDIS_URL, TEST_SECRET_KEY, create_database, drop_database, make_settings, new_merchant
from sqlalchemy import func, select

from ctrip_core.db import migrate
from ctrip_core.db.models import DepositAddress, Payment
from ctrip_core.devnet.accounts import GATEWAY_XPUB
from ctrip_core.devnet.anvil import free_port
from ctrip_core.runtime import build_runtime

REPO = Path(__file__).resolve().parents[2]
CTRIP = Path(sys.executable).with_name("ctrip")
HIGH_RATE = "100000"


class LiveApi:
    """`ctrip api --workers N` on its own fresh, migrated PostgreSQL database and a free port."""

    def __init__(self, chains_file: Path, log_file: Path, workers: int = 2, env: dict[str, str] | None = None):
        self.chains_file, self.log_file, self.workers = chains_file, log_file, workers
        self.extra_env = env or {}
        self.db_url: str | None = None  # made by start()
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        return {**os.environ, "CTRIP_ENV": "testing", "CTRIP_DATABASE_URL": self.db_url,
                "CTRIP_CHAINS_FILE": str(self.chains_file), "CTRIP_WALLET__XPUB": GATEWAY_XPUB,
                "CTRIP_SECRET_KEY": TEST_SECRET_KEY, "CTRIP_REDIS_URL": REDIS_URL,
                "CTRIP_API__RATE_LIMIT_PER_S": HIGH_RATE, "CTRIP_API__RATE_LIMIT_BURST": HIGH_RATE,
                "CTRIP_API__CHECKOUT_RATE_LIMIT_PER_S": HIGH_RATE, "CTRIP_API__CHECKOUT_RATE_LIMIT_BURST": HIGH_RATE,
                **self.extra_env}

    def start(self, timeout_s: float = 60) -> None:
        """Create and migrate the database, start the server, wait for /health; on failure, clean up."""
        self.db_url = create_database(migrated=False)
        try:
            migrate.upgrade(self.db_url)
            with open(self.log_file, "wb") as log:  # a file, not a pipe: a full pipe would block the server
                self.proc = subprocess.Popen([str(CTRIP), "api", "--bind", f"127.0.0.1:{self.port}",
                                              "--workers", str(self.workers)],
                                             env=self.env(), cwd=REPO, start_new_session=True,
                                             stdout=log, stderr=subprocess.STDOUT)
            self._wait_for_health(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_for_health(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ctrip api exited {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(self.base_url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"ctrip api did not answer /health within {timeout_s}s: {self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_file.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)  # Hypercorn stops its workers gracefully
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: any worker left behind
            except ProcessLookupError:
                pass
            self.proc.wait(5)
        if self.db_url is not None:
            drop_database(self.db_url)


@pytest.fixture(scope="module")
def live_api(chains_file, tmp_path_factory):
    api = LiveApi(chains_file, tmp_path_factory.mktemp("live_api") / "ctrip-api.log", workers=2)
    api.start()
    yield api
    api.stop()


@pytest_asyncio.fixture(scope="module")
async def live_runtime(live_api, chains_file):
    """A runtime on the live server's database: to create merchants and inspect what it wrote."""
    rt = build_runtime(make_settings(live_api.db_url, chains_file), "api")
    yield rt
    await rt.close()


async def _assert_all_distinct(runtime, ids: list[str]) -> None:
    async with runtime.sessions() as session:
        rows = (await session.execute(select(Payment.id, Payment.address, Payment.derivation_index)
                                      .where(Payment.id.in_(ids)))).all()
        deposit_rows = await session.scalar(select(func.count()).select_from(DepositAddress)
                                            .where(DepositAddress.derivation_index.in_([r[2] for r in rows])))
    assert len(rows) == len(ids)
    assert len({r.address for r in rows}) == len(ids)
    assert len({r.derivation_index for r in rows}) == len(ids)
    assert deposit_rows == len(ids)


async def test_200_concurrent_creates_on_postgres_under_hypercorn(live_api, live_runtime):
    merchants = [await new_merchant(live_runtime, "acme"), await new_merchant(live_runtime, "globex")]
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=live_api.base_url, limits=limits, timeout=30) as http:

        async def create(i: int) -> httpx.Response:
            merchant_id, key = merchants[i % 2]
            return await http.post("/v1/payments", headers={"Authorization": f"Bearer {key}"},
                                   json={"chain": "anvil", "asset": "TUSD", "amount": "1.25", "order_id": f"c-{i}"})

        responses = await asyncio.gather(*(create(i) for i in range(200)))
    assert [r.status_code for r in responses] == [201] * 200, [r.text for r in responses if r.status_code != 201][:3]
    bodies = [r.json() for r in responses]
    assert len({b["address"] for b in bodies}) == 200
    await _assert_all_distinct(live_runtime, [b["id"] for b in bodies])
    async with live_runtime.sessions() as session:
        per_merchant = dict((await session.execute(
            select(Payment.merchant_id, func.count()).where(Payment.id.in_([b["id"] for b in bodies]))
            .group_by(Payment.merchant_id))).all())
    assert per_merchant == {merchants[0][0]: 100, merchants[1][0]: 100}
    assert '"level": "error"' not in live_api.log_tail(10**7)


@pytest_asyncio.fixture(scope="module")
async def sqlite_runtime(tmp_path_factory, chains_file):
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'ctrip.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    rt = build_runtime(make_settings(url, chains_file, api={"rate_limit_per_s": 100000,
                                                            "rate_limit_burst": 100000}), "api")
    yield rt
    await rt.close()


async def test_50_concurrent_creates_on_sqlite_in_process(sqlite_runtime):
    from ctrip_core.api import create_app

    client = create_app(sqlite_runtime).test_client()
    merchants = [await new_merchant(sqlite_runtime, "acme"), await new_merchant(sqlite_runtime, "globex")]

    async def create(i: int):
        _, key = merchants[i % 2]
        response = await client.post("/v1/payments", headers={"Authorization": f"Bearer {key}"},
                                     json={"chain": "anvil", "asset": "ETH", "amount": "0.01"})
        return response.status_code, await response.get_json()

    results = await asyncio.gather(*(create(i) for i in range(50)))
    assert [status for status, _ in results] == [201] * 50, [body for status, body in results if status != 201][:3]
    await _assert_all_distinct(sqlite_runtime, [body["id"] for _, body in results])


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_kill_9_of_ctrip_api_takes_its_hypercorn_workers_with_it(chains_file, tmp_path):
    api = LiveApi(chains_file, tmp_path / "ctrip-api.log", workers=2)
    api.start()
    try:
        deadline = time.monotonic() + 20
        while len(workers := [p for p in _children(api.proc.pid) if _alive(p)]) < 2:
            assert time.monotonic() < deadline, f"no 2 workers under ctrip api: {api.log_tail()}"
            time.sleep(0.1)
        os.kill(api.proc.pid, signal.SIGKILL)
        api.proc.wait(5)
        deadline = time.monotonic() + 15  # SIGTERM, then Hypercorn's graceful stop (5 s)
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers), "Hypercorn workers outlived ctrip api"
        with pytest.raises(httpx.HTTPError):
            httpx.get(api.base_url + "/health", timeout=1)
    finally:
        api.stop()


def test_sigterm_to_the_whole_process_group_is_a_clean_stop(chains_file, tmp_path):
    """systemd (KillMode=control-group) and container runtimes signal every process, in no set order:
    workers dead of that SIGTERM before the parent's own handler ran are a stop (exit 0), not a failure."""
    api = LiveApi(chains_file, tmp_path / "ctrip-api.log", workers=2)
    api.start()
    try:
        deadline = time.monotonic() + 20
        while len(workers := [p for p in _children(api.proc.pid) if _alive(p)]) < 2:
            assert time.monotonic() < deadline, f"no 2 workers under ctrip api: {api.log_tail()}"
            time.sleep(0.1)
        for pid in workers:  # the order that lost the race in CI: the workers first, then the parent
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            os.kill(api.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        assert api.proc.wait(20) == 0, api.log_tail()
    finally:
        api.stop()
