"""Real `ctrip` subprocesses for the tests that need whole processes (jobs, webhooks, sweeps):
their environment, and a group of them that is always killed, process group and all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testbed import TEST_SECRET_KEY
from ctrip_core.devnet.accounts import GATEWAY_XPUB

CTRIP = str(Path(sys.executable).parent / "ctrip")
PYTHON = sys.executable


def ctrip_env(database_url: str, chains_file: Path, redis_url: str, **extra: str) -> dict[str, str]:
    """The calling environment without any CTRIP_ variable, plus exactly the configuration given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTRIP_")}
    env.update(CTRIP_ENV="testing", CTRIP_DATABASE_URL=database_url, CTRIP_REDIS_URL=redis_url,
               CTRIP_CHAINS_FILE=str(chains_file), CTRIP_WALLET__XPUB=GATEWAY_XPUB,
               CTRIP_SECRET_KEY=TEST_SECRET_KEY, PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


class Processes:
    """Subprocesses in their own sessions, logging to files; `stop_all` kills every process group."""

    def __init__(self, log_dir: Path, env: dict[str, str]):
        self.log_dir, self.env = log_dir, env
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], **popen) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}-{len(self.procs)}.log", "wb")  # noqa: SIM115 - closed by the child's end
        proc = subprocess.Popen(args, env=self.env, cwd=self.log_dir, stdin=subprocess.DEVNULL,
                                stdout=popen.pop("stdout", log), stderr=log, start_new_session=True, **popen)
        log.close()
        self.procs.append((name, proc))
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL, timeout: float = 5.0) -> int | None:
        """Signal the process group (workers spawn children) and reap the leader; SIGKILL if it lingers."""
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return proc.wait(5)

    def stop_all(self, sig: int = signal.SIGTERM) -> None:
        """`sig` to every group still running, then SIGKILL to whatever of those groups lingers.

        Groups whose leader was already reaped earlier (by `kill`) were killed whole then; they are
        left alone, so a recycled process id is never signalled.
        """
        running = [proc for _, proc in self.procs if proc.poll() is None]
        for proc in running:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 8.0
        for proc in running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:  # whatever lingers: the leader, or the worker children it spawned
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)

    def logs(self, limit: int = 4000) -> str:
        out = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace")
            out.append(f"--- {path.name}\n{text[-limit:]}")
        return "\n".join(out)

    def assert_running(self) -> None:
        dead = [(name, p.returncode) for name, p in self.procs if p.poll() is not None]
        assert not dead, f"subprocesses exited early: {dead}\n{self.logs()}"


def dev_env() -> dict[str, str]:
    """The calling environment without any CTRIP_ variable: `ctrip dev` as a user runs it."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CTRIP_")}


@contextmanager
def running_dev(path: Path, *args: str, api_port: int | None = None) -> Iterator[subprocess.Popen]:
    """`ctrip dev` running in `path` until it answers /health; stopped by SIGINT (then killed) at exit.

    On free ports near 18000 (API) and 18545 (Anvil), or on `api_port` as given, free or not.

    Its output (stdout and stderr together) is readable from the process once it has stopped.
    """
    from ctrip_core.devnet.anvil import free_port

    proc = subprocess.Popen([CTRIP, "dev", "--port", str(api_port or free_port(18000)), "--anvil-port",
                             str(free_port(18545)), *args], cwd=path, env=dev_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _dev_answers(path):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "ctrip dev did not come up"
            time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _dev_answers(path: Path) -> bool:
    import httpx

    try:
        url = json.loads((path / ".ctrip" / "dev.json").read_text())["api_url"]
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except Exception:  # noqa: BLE001 - not up yet
        return False
