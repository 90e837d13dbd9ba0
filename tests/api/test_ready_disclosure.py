"""/ready is unauthenticated: in a degraded state it names what is down (database, broker, each chain's
RPC, a stalled scanner, a low gas tank) and reveals no balance, no address and no URL or host."""

from __future__ import annotations

import re
import time

import pytest
import pytest_asyncio

from ctrip_core.api import create_app
from ctrip_core.api.serve import redis_check
from ctrip_core.devnet.accounts import FUNDER_KEY, TREASURY
from ctrip_core.devnet.anvil import AnvilNode, free_port
from ctrip_core.devnet.chains_yaml import anvil_chain, write_chains_file
from ctrip_core.devnet.token import deploy_test_token
from ctrip_core.runtime import build_runtime
from ctrip_core.services.watching.scanning import scan_chain

HOUR_S = 3600
TANK_BALANCE = 987_654_321_987_654_321  # wei, below the floor: what /ready must not show
FLOOR = 5 * 10**24
DEAD_HOST = "eth-node.internal.example"
DEAD_KEY = "k3yInTheUrlPath"
REDIS_PASSWORD = "hunter2redis"
PG_PASSWORD = "pgs3cretpw"
PG_DATABASE = "ctrip_private_db"

#: Shapes no text in /ready may have: addresses and hashes, URLs, IPv4 addresses, host:port.
FORBIDDEN_SHAPES = [r"0x[0-9a-fA-F]{4,}", r"[a-z]+://", r"\b\d{1,3}(\.\d{1,3}){3}\b", r"localhost", r":\d{2,5}\b"]


def _texts(value) -> list[str]:
    """Every key and string value of a JSON document (numbers are the scan lags)."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (k, *_texts(v))]
    return [value] if isinstance(value, str) else []


def assert_discloses_nothing(raw: str, body: dict, secrets: list[str]) -> None:
    """No forbidden shape or secret in any text of `body`, and no balance digits anywhere in `raw`."""
    texts = "\n".join(_texts(body)).lower()
    for shape in FORBIDDEN_SHAPES:
        assert not re.search(shape, texts), (shape, raw)
    for secret in secrets:
        assert secret.lower() not in texts, (secret, raw)
    for digits in (str(TANK_BALANCE), str(TANK_BALANCE)[:9], str(FLOOR), str(FLOOR // 10**18)):
        assert digits not in raw, (digits, raw)


@pytest.fixture(scope="module")
def old_node():
    """An Anvil whose blocks are an hour old: once it mines past the scanned block, the scanner lags."""
    node = AnvilNode.start(extra_args=["--timestamp", str(int(time.time()) - HOUR_S)])
    yield node
    node.stop()


@pytest.fixture(scope="module")
def dead_ports() -> list[int]:
    return [free_port(), free_port()]


@pytest.fixture(scope="module")
def chains(old_node, dead_ports, tmp_path_factory):
    token = deploy_test_token(old_node.rpc_url, FUNDER_KEY, decimals=6)
    path = write_chains_file(tmp_path_factory.mktemp("ready") / "chains.yaml", {
        "laggy": anvil_chain(old_node.rpc_url, token),
        "dead": anvil_chain([f"http://127.0.0.1:{dead_ports[0]}/v3/{DEAD_KEY}", f"https://{DEAD_HOST}/v3/{DEAD_KEY}"],
                            adapter="ethereum", chain_id=1)})
    return path, token


@pytest_asyncio.fixture(scope="module")
async def degraded(old_node, module_database, chains, dead_ports, settings_with):
    """A gateway whose scanner lags on `laggy` with a gas tank below the floor, `dead`'s nodes do not
    answer and Redis is unreachable; the database is up (it holds the scan positions)."""
    path, token = chains
    runtime = build_runtime(settings_with(database_url=module_database, chains_file=path,
                                          sweeps={"gas_tank_floor_wei": FLOOR}), "scanner")
    tank = runtime.deriver.derive_path(runtime.chains["laggy"].config.gas_tank)
    old_node.rpc("anvil_setBalance", tank, hex(TANK_BALANCE))
    await scan_chain(runtime, "laggy")
    old_node.rpc("evm_mine")
    await scan_chain(runtime, "laggy")
    for _ in range(3):  # the chain goes on, the scanner does not
        old_node.rpc("evm_mine")
    check, client = redis_check(f"redis://:{REDIS_PASSWORD}@127.0.0.1:{dead_ports[1]}/7")
    secrets = [tank, TREASURY, token, DEAD_HOST, DEAD_KEY, REDIS_PASSWORD, str(old_node.port),
               *map(str, dead_ports), module_database.rsplit("/", 1)[1]]
    yield create_app(runtime, broker_check=check), secrets
    await client.aclose()
    await runtime.close()


async def test_ready_names_everything_that_is_down_and_discloses_nothing(degraded):
    app, secrets = degraded
    response = await app.test_client().get("/ready")
    text = (await response.get_data()).decode()
    assert response.status_code == 503, text
    body = await response.get_json()
    assert set(body) == {"status", "checks", "warnings", "scan_lag_s"}
    assert body["status"] == "not_ready"
    checks = body["checks"]
    assert set(checks) == {"database", "broker", "chain:laggy", "chain:dead"}
    assert checks["database"] == "ok"
    assert checks["broker"].startswith("down: "), checks
    assert checks["chain:dead"].startswith("down: "), checks
    assert checks["chain:laggy"].startswith("down: scanner 3 blocks behind the node"), checks
    assert body["warnings"] == {
        "gas_tank:laggy": "below sweeps.gas_tank_floor_wei; refill it (address: ctrip wallet gas-tank laggy)"}
    assert HOUR_S - 60 < body["scan_lag_s"]["laggy"] < HOUR_S + 60 and body["scan_lag_s"]["dead"] is None
    assert_discloses_nothing(text, body, secrets)


async def test_the_balance_stays_in_the_metric(degraded):
    """What /ready leaves out is on the metrics port, for the operator."""
    app, _ = degraded
    client = app.test_client()
    await client.get("/ready")
    response = await client.get("/metrics", scope_base={"server": ("127.0.0.1", app.extensions["ctrip"]
                                                                   .runtime.settings.metrics.port)})
    text = (await response.get_data()).decode()
    sample = re.search(r'^ctrip_gas_tank_balance_wei\{chain="laggy"\} ([0-9.e+]+)$', text, re.M)
    assert sample and float(sample.group(1)) == float(TANK_BALANCE), text


async def test_a_database_down_is_named_without_its_url(settings_with):
    port = free_port()
    url = f"postgresql+asyncpg://ctrip_ro:{PG_PASSWORD}@127.0.0.1:{port}/{PG_DATABASE}"
    runtime = build_runtime(settings_with(database_url=url), "api")
    try:
        response = await create_app(runtime).test_client().get("/ready")
        text = (await response.get_data()).decode()
        assert response.status_code == 503, text
        body = await response.get_json()
        assert body["checks"]["database"].startswith("down: "), body
        assert body["checks"]["chain:anvil"] == "ok" and body["scan_lag_s"] == {"anvil": None}
        assert_discloses_nothing(text, body, [PG_PASSWORD, PG_DATABASE, "ctrip_ro", str(port)])
    finally:
        await runtime.close()
