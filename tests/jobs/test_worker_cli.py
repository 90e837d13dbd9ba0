"""`ctrip worker` / `ctrip scheduler` refuse bad usage with exit 2 and one line naming the key (CONTRACT §1, §2).

Only a worker serving the `sweep` queue may hold `wallet.mnemonic`; every other worker, and the
scheduler, refuses to start with it. Each case runs the real console script from an empty directory
with configuration from environment variables alone.
"""

from __future__ import annotations

import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from ctrip_core.devnet.accounts import GATEWAY_MNEMONIC
from ctrip_core.devnet.anvil import free_port
from subprocesses import CTRIP, Processes, ctrip_env

DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/ctrip_jobs_cli_never_used"
REDIS_URL = "redis://127.0.0.1:6379/9"
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def env(tmp_path):
    # A node that is not there: nothing below gets as far as calling it.
    chains = write_anvil_chains_file(tmp_path / "chains.yaml", f"http://127.0.0.1:{free_port()}", TOKEN)
    return ctrip_env(DATABASE_URL, chains, REDIS_URL, CTRIP_WALLET__MNEMONIC=GATEWAY_MNEMONIC)


REFUSED = [
    (["worker", "--queues", "scan,confirm"], "wallet.mnemonic"),
    (["worker", "--queues", "webhooks", "--processes", "2"], "wallet.mnemonic"),
    (["scheduler"], "wallet.mnemonic"),
    (["worker", "--queues", "sweep,bogus"], "bogus"),
    (["worker", "--queues", ","], "--queues"),
]


def test_refused_with_exit_2_and_one_line_naming_the_key(env, tmp_path):
    def run(case):
        args, _ = case
        return subprocess.run([CTRIP, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=90)

    with ThreadPoolExecutor(len(REFUSED)) as pool:
        results = list(pool.map(run, REFUSED))
    for (args, named), result in zip(REFUSED, results):
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, (args, result.returncode, result.stderr)
        assert len(lines) == 1 and named in lines[0], (args, result.stderr)
        assert GATEWAY_MNEMONIC.split()[0] + " " not in result.stderr + result.stdout, "the mnemonic leaked"
    assert "--queues" in results[3].stderr


def test_sweep_worker_may_hold_the_mnemonic(env, tmp_path, migrated_pg_url, redis_url):
    """The control: the same configuration, on a database and Redis that are there (checked at
    start), starts a worker that serves `sweep`, which stops cleanly."""
    procs = Processes(tmp_path, env | {"CTRIP_DATABASE_URL": migrated_pg_url, "CTRIP_REDIS_URL": redis_url})
    try:
        proc = procs.start("sweeper", [CTRIP, "worker", "--queues", "sweep"])
        deadline = time.monotonic() + 30
        while "worker serving sweep" not in procs.logs():  # up, signal handlers in place
            assert proc.poll() is None and time.monotonic() < deadline, procs.logs()
            time.sleep(0.1)
        assert Processes.kill(proc, signal.SIGTERM, timeout=15) == 0, procs.logs()
    finally:
        procs.stop_all()
