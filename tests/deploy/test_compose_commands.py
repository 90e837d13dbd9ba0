"""docker-compose.yml's services run as shipped: each ctrip service's real `command`, with the
environment Compose would give its container, as a subprocess (no container engine runs here).

What Compose would do, done by hand: `${VARS}` interpolated from a test .env, the sweeper's
`env_file` read, the bind-mounted files (deploy/chains.yaml) and the image's own files (settings.toml)
laid out in an /app of the test's, service hostnames `postgres` and `redis` mapped to this machine's
services (a scratch database, the test Redis database) and each published port to a free one. The
chains are the production file's own (Ethereum and BSC adapters) on two Anvils with chain ids 1 and 56.
migrate must exit 0; the API, worker, sweeper and scheduler must stay up until their own healthcheck
commands pass; then they stop on SIGTERM.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from bip_utils import Bip39MnemonicGenerator, Bip39WordsNum
from redis import Redis

from compose_stack import ROOT, compose, interpolate, mounted_files, service_environment
from ctrip_core.config.chains_file import DEFAULT_GAS_TANK_PATH
from ctrip_core.devnet.anvil import AnvilNode, free_port
from ctrip_core.wallet import XpubDeriver, xpub_from_mnemonic
from subprocesses import CTRIP, PYTHON, Processes

pytestmark = pytest.mark.timeout(120)

LONG_RUNNING = ("app", "worker", "sweeper", "scheduler")
#: Files the Dockerfile copies into /app besides the packages (`COPY alembic.ini settings.toml ./`).
IMAGE_FILES = ("settings.toml", "alembic.ini")
TREASURY = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"  # Anvil account 9
HEALTHY_WITHIN_S = 45


@pytest.fixture(scope="module")
def nodes():
    """The production chains' ids on Anvil: Ethereum (1) and BSC (56), mining a block a second."""
    started = [AnvilNode.start(chain_id=chain_id, block_time_s=1) for chain_id in (1, 56)]
    yield dict(zip(("ethereum", "bsc"), started))
    for node in started:
        node.stop()


@pytest.fixture
def project(tmp_path, nodes):
    """The directory next to docker-compose.yml: a fresh wallet, its .env and sweeper.env."""
    mnemonic = str(Bip39MnemonicGenerator().FromWordsNumber(Bip39WordsNum.WORDS_NUM_12))
    xpub = xpub_from_mnemonic(mnemonic)
    tank = XpubDeriver(xpub).derive_path(DEFAULT_GAS_TANK_PATH)
    for node in nodes.values():
        node.rpc("anvil_setBalance", tank, hex(10**18))  # token sweeps' gas
    dotenv = {"POSTGRES_PASSWORD": secrets.token_hex(8), "CTRIP_SECRET_KEY": secrets.token_urlsafe(32),
              "CTRIP_WALLET__XPUB": xpub,
              "ETH_RPC_URL": nodes["ethereum"].rpc_url, "ETH_TREASURY": TREASURY,
              "BSC_RPC_URL": nodes["bsc"].rpc_url, "BSC_TREASURY": TREASURY}
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()))
    (tmp_path / "sweeper.env").write_text(f"CTRIP_WALLET__MNEMONIC={mnemonic}\n")
    return {"dir": tmp_path, "dotenv": dotenv, "mnemonic": mnemonic}


def localize(value: str, database_url: str, redis_url: str) -> str:
    """A URL naming the compose services `postgres` or `redis` → this machine's scratch database or Redis."""
    try:
        host = urlsplit(value).hostname
    except ValueError:
        return value
    return {"postgres": database_url, "redis": redis_url}.get(host, value)


def published_ports(service: dict) -> dict[int, int]:
    """Each container port the service publishes → a free port here."""
    ports = {}
    for mapping in service.get("ports", []):
        container = int(str(mapping).rsplit(":", 1)[-1])
        ports[container] = free_port()
    return ports


def remap(argv: list[str], ports: dict[int, int]) -> list[str]:
    """The argv with its executables resolved here and each published port replaced."""
    out = []
    for arg in argv:
        for container, local in ports.items():
            arg = str(local) if arg == str(container) else re.sub(rf"(?<=:){container}\b", str(local), arg)
        out.append(arg)
    head = {"ctrip": CTRIP, "python": PYTHON}.get(out[0], out[0])
    return [head, *out[1:]]


@pytest.fixture
def stack(project, empty_pg_url, redis_url):
    """Per ctrip service: its argv, healthcheck argv, environment and working directory."""
    services = compose()["services"]
    app_dir = project["dir"] / "app"
    app_dir.mkdir()
    for name in IMAGE_FILES:
        shutil.copy(ROOT / name, app_dir / name)
    base = {k: v for k, v in os.environ.items() if not k.startswith("CTRIP_")}
    base.update(PYTHONUNBUFFERED="1", PATH=f"{Path(CTRIP).parent}{os.pathsep}{os.environ['PATH']}")
    result = {}
    for name in ("migrate", *LONG_RUNNING):
        service = services[name]
        for source, target in mounted_files(service):
            assert target.startswith("/app/"), target
            shutil.copy(source, app_dir / target.removeprefix("/app/"))
        env = service_environment(service, project["dotenv"], project["dir"])
        env = {k: localize(v, empty_pg_url, redis_url) for k, v in env.items()}  # its own: no other test's rows
        ports = published_ports(service)
        health = service.get("healthcheck", {}).get("test")
        result[name] = {"argv": remap(service["command"], ports), "env": base | env, "ports": ports,
                        "health": remap(health[1:], ports) if health else None}
    return {"services": result, "dir": app_dir, "mnemonic": project["mnemonic"]}


def test_every_service_runs_its_command_and_passes_its_healthcheck(stack, redis_url):
    services, app_dir = stack["services"], stack["dir"]
    Redis.from_url(redis_url).delete(*[f"ctrip:heartbeat:{kind}:{os.uname().nodename}"
                                       for kind in ("worker", "sweeper", "scheduler")])
    assert "CTRIP_WALLET__MNEMONIC" not in services["worker"]["env"]
    assert services["sweeper"]["env"]["CTRIP_WALLET__MNEMONIC"] == stack["mnemonic"]

    migrate = subprocess.run(services["migrate"]["argv"], env=services["migrate"]["env"], cwd=app_dir,
                             capture_output=True, text=True, timeout=60)
    assert migrate.returncode == 0, migrate.stderr

    groups = {name: Processes(app_dir, services[name]["env"]) for name in LONG_RUNNING}
    try:
        procs = {name: groups[name].start(name, services[name]["argv"]) for name in LONG_RUNNING}
        waiting = set(LONG_RUNNING)
        checks: dict[str, subprocess.CompletedProcess] = {}
        deadline = time.monotonic() + HEALTHY_WITHIN_S
        while waiting and time.monotonic() < deadline:
            for name in sorted(waiting):
                assert procs[name].poll() is None, f"{name} exited {procs[name].returncode}\n{groups[name].logs()}"
                checks[name] = subprocess.run(services[name]["health"], env=services[name]["env"], cwd=app_dir,
                                              capture_output=True, text=True, timeout=20)
                if checks[name].returncode == 0:
                    waiting.discard(name)
            if waiting:
                time.sleep(1)
        assert not waiting, {name: (checks[name].stdout + checks[name].stderr)[-600:] for name in waiting} | {
            "logs": groups[sorted(waiting)[0]].logs()}

        # The workers' published metrics ports serve Prometheus text.
        for name in ("worker", "sweeper"):
            port = next(iter(services[name]["ports"].values()))
            body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            assert "ctrip_rpc_faults_total" in body, (name, body[:300])
        for name in LONG_RUNNING:
            assert procs[name].poll() is None, f"{name} exited {procs[name].returncode}\n{groups[name].logs()}"
    finally:
        for group in groups.values():
            group.stop_all()
    for name, proc in procs.items():
        assert proc.returncode in (0, -15), f"{name} exited {proc.returncode} on SIGTERM\n{groups[name].logs()}"
