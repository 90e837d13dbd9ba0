"""A stalled scanner shows its lag (issue 14, defect 4): `ctrip_scan_lag_seconds{chain}` and `/ready`.

The module's own Anvil starts an hour in the past (`--timestamp`), so every block it mines is an
hour old by the wall clock: a scanner that stops while the chain goes on is an hour behind at
once, without waiting. Caught up (nothing past the scanned block) it is ready however old the
block is: an idle chain is not a stalled scanner.
"""

from __future__ import annotations

import re
import time

import pytest
import pytest_asyncio

from testbed import create_database, drop_database, make_settings
from metrics_scrape import scrape
from ctrip_core.api import create_app
from ctrip_core.devnet.anvil import AnvilNode
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from ctrip_core.runtime import build_runtime
from ctrip_core.services.watching.scanning import scan_chain

HOUR_S = 3600


@pytest.fixture(scope="module")
def old_node():
    node = AnvilNode.start(extra_args=["--timestamp", str(int(time.time()) - HOUR_S)])
    yield node
    node.stop()


@pytest.fixture(scope="module")
def database():
    url = create_database()
    yield url
    drop_database(url)


@pytest_asyncio.fixture(scope="module")
async def rt(old_node, database, tmp_path_factory):
    chains = write_anvil_chains_file(tmp_path_factory.mktemp("lag") / "chains.yaml", old_node.rpc_url,
                                     name="laggy", treasury=None)
    runtime = build_runtime(make_settings(database, chains), "scanner")
    yield runtime
    await runtime.close()


async def broker_up() -> None:
    return None


async def ready(app) -> tuple[int, dict]:
    response = await app.test_client().get("/ready")
    return response.status_code, await response.get_json()


async def test_a_stalled_scanner_makes_ready_503_naming_the_chain_and_the_lag_is_a_metric(rt, old_node):
    app = create_app(rt, broker_check=broker_up)
    await scan_chain(rt, "laggy")  # the cursor starts at the head ...
    old_node.rpc("evm_mine")
    await scan_chain(rt, "laggy")  # ... and the next block is scanned: its timestamp is known
    status, body = await ready(app)
    assert status == 200, body  # caught up: an old block, but nothing waits behind it
    assert body["checks"]["chain:laggy"] == "ok"
    assert HOUR_S - 60 < body["scan_lag_s"]["laggy"] < HOUR_S + 60

    for _ in range(3):  # the chain goes on, the scanner does not
        old_node.rpc("evm_mine")
    status, body = await ready(app)
    assert status == 503 and body["status"] == "not_ready"
    problem = body["checks"]["chain:laggy"]
    assert problem.startswith("down: scanner") and "3 blocks behind" in problem, problem
    assert body["checks"]["database"] == "ok" and body["checks"]["broker"] == "ok"

    text = await scrape(app.test_client())
    sample = re.search(r'^ctrip_scan_lag_seconds\{chain="laggy"\} ([0-9.e+]+)$', text, re.M)
    assert sample and HOUR_S - 60 < float(sample.group(1)) < HOUR_S + 60, text

    await scan_chain(rt, "laggy")  # caught up again
    status, body = await ready(app)
    assert status == 200 and body["checks"]["chain:laggy"] == "ok", body


async def test_the_lag_threshold_follows_block_time_with_a_floor(rt):
    from ctrip_core.services.watching.scan_lag import max_lag_s

    settings = rt.settings
    chain = rt.chains["laggy"].config
    assert settings.scanning.max_lag_blocks == 30 and settings.scanning.max_lag_min_s == 60
    assert max_lag_s(settings.scanning, chain) == 60  # 30 blocks of 1 s is under the floor
    assert max_lag_s(settings.scanning, chain.model_copy(update={"block_time_s": 12})) == 360
