"""Start-up failures of the real long-running commands (issue 15): each is exactly one line on stderr
naming the setting, file or service and what to do, exit 2 for configuration and 1 for a service
down or not migrated, never a traceback, with CTRIP_ENV=production and testing. Real PostgreSQL and
Redis (a fresh, unmigrated database of the session; closed ports for the unreachable cases)."""

from __future__ import annotations

import os
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from subprocesses import CTRIP
from testbed import create_database, drop_database
from ctrip_core.devnet.accounts import ANVIL_XPUB, GATEWAY_XPUB

#: An xpub of no well-known mnemonic (production refuses the test ones).
OWN_XPUB = ("xpub6CUGRUonZSQ4TWtTMmzXdrXDtypWKiKrhko4egpiMZbpiaQL2jkwSB1icqYh2cfDfVxdx4df189oLKnC5fSwqPfg"
            "yP3hooxujYzAu3fDVmz")
KEY = "k3y-0f-a-gateway-that-is-long-enough-9876543210"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


DEAD = _closed_port()
EMPTY_DB = "{pg}"  # the session's database, never migrated here
DEAD_DB = f"postgres://postgres@127.0.0.1:{DEAD}/nope"

# name → (argv, env changes, exit code, needles)
CASES = {
    "api, unreachable database": (["api"], {"CTRIP_DATABASE_URL": DEAD_DB}, 1, ["database_url", "cannot connect"]),
    "worker, unreachable database": (["worker", "--queues", "scan"], {"CTRIP_DATABASE_URL": DEAD_DB}, 1,
                                     ["database_url", "cannot connect"]),
    "scheduler, unreachable database": (["scheduler"], {"CTRIP_DATABASE_URL": DEAD_DB}, 1,
                                        ["database_url", "cannot connect"]),
    "db upgrade, unreachable database": (["db", "upgrade"], {"CTRIP_DATABASE_URL": DEAD_DB}, 1,
                                         ["database_url", "cannot connect"]),
    "api, unmigrated database": (["api"], {}, 1, ["database_url", "not migrated", "ctrip db upgrade"]),
    "worker, unmigrated database": (["worker", "--queues", "scan,confirm,webhooks"], {}, 1, ["database_url", "ctrip db upgrade"]),
    "scheduler, unmigrated database": (["scheduler"], {}, 1, ["database_url", "ctrip db upgrade"]),
    "api, unreachable redis": (["api"], {"CTRIP_REDIS_URL": f"redis://127.0.0.1:{DEAD}/0",
                                         "CTRIP_DATABASE_URL": "sqlite:///{tmp}/migrated.db",
                                         "CTRIP_DATABASE_ALLOW_SQLITE": "true"}, 1, ["redis_url"]),
    "mysql database_url": (["api"], {"CTRIP_DATABASE_URL": "mysql://u:pw@db/ctrip"}, 2, ["database_url", "mysql"]),
    "not a URL": (["db", "upgrade"], {"CTRIP_DATABASE_URL": "ctrip-db"}, 2, ["database_url", "not a URL"]),
    "no secret_key": (["api"], {"CTRIP_SECRET_KEY": ""}, 2, ["secret_key", "not set"]),
    "weak secret_key": (["worker", "--queues", "webhooks"], {"CTRIP_SECRET_KEY": "short"}, 2, ["secret_key", "too weak"]),
    "bad chains file": (["api"], {"CTRIP_CHAINS_FILE": "{tmp}/missing.yaml"}, 2, ["missing.yaml"]),
    "misspelled plugin": (["worker"], {"CTRIP_PLUGINS__ENABLED": '["etherium"]'}, 2, ["plugins.enabled", "etherium"]),
    "production, test xpub": (["api"], {"CTRIP_WALLET__XPUB": GATEWAY_XPUB}, 2, ["wallet.xpub", "well-known"]),
    "production, anvil xpub": (["scheduler"], {"CTRIP_WALLET__XPUB": ANVIL_XPUB}, 2, ["wallet.xpub"]),
    "production, private webhook targets": (["api"], {"CTRIP_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true"}, 2,
                                            ["webhooks.allow_private_targets"]),
    "production, sqlite": (["api"], {"CTRIP_DATABASE_URL": "sqlite:///x.db"}, 2,
                           ["database_url", "database_allow_sqlite"]),
    "production, anvil adapter": (["worker"], {"CTRIP_CHAINS_FILE": "{tmp}/anvil.yaml"}, 2, ["dev.adapter", "anvil"]),
}


def _chain(adapter: str, chain_id: int) -> dict:
    return {"dev": {"adapter": adapter, "chain_id": chain_id, "rpc_url": f"http://127.0.0.1:{DEAD}",
                    "confirmations": 1, "block_time_s": 1, "native": {"symbol": "ETH", "decimals": 18},
                    "treasury": "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"}}


@pytest.fixture(scope="module")
def empty_pg():
    """A database of this module's own, never migrated (the session's pg_url is migrated by others)."""
    url = create_database(migrated=False)
    yield url.replace("postgresql+asyncpg://", "postgresql://", 1)
    drop_database(url)


#: Every case in production, and in testing those that are not production-only rules.
WANTED = [(name, "production") for name in CASES] + [
    (name, "testing") for name in CASES if not name.startswith("production")]


@pytest.fixture(scope="module")
def results(tmp_path_factory, empty_pg, redis_url):
    pg_url = empty_pg
    def one(item):
        name_env, tmp = item
        name, ctrip_env = name_env
        (tmp / "chains.yaml").write_text(yaml.safe_dump(_chain("ethereum", 1)))
        (tmp / "anvil.yaml").write_text(yaml.safe_dump(_chain("anvil", 31337)))
        argv, changes, _, _ = CASES[name]
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CTRIP_")}
        env |= {"CTRIP_ENV": ctrip_env, "CTRIP_DATABASE_URL": pg_url, "CTRIP_REDIS_URL": redis_url,
                "CTRIP_CHAINS_FILE": str(tmp / "chains.yaml"), "CTRIP_WALLET__XPUB": OWN_XPUB,
                "CTRIP_SECRET_KEY": KEY}
        env |= {k: v.replace("{tmp}", str(tmp)).replace("{pg}", pg_url) for k, v in changes.items()}
        if "migrated.db" in env["CTRIP_DATABASE_URL"]:
            subprocess.run([CTRIP, "db", "upgrade"], cwd=tmp, env=env, capture_output=True, check=True, timeout=60)
        proc = subprocess.run([CTRIP, *argv], cwd=tmp, env=env, capture_output=True, text=True, timeout=60)
        return name_env, proc

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(one, [(w, tmp_path_factory.mktemp("startup")) for w in WANTED]))


@pytest.mark.parametrize("name, env", WANTED)
def test_a_start_up_failure_is_one_line_and_its_exit_code(results, name, env):
    proc = results[(name, env)]
    _, _, code, needles = CASES[name]
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("ctrip: configuration error: " if code == 2 else "ctrip: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "pw@" not in lines[0]
