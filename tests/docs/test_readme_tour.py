"""The README's tour, run as written against a real `ctrip dev` (its own Anvil, SQLite and jobs)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ctrip_core.devnet.anvil import free_port

ROOT = Path(__file__).parents[2]


def tour_script() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## A tour"):]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def dev_dir(tmp_path):
    """A directory like the checkout's root: `.venv` (linked) and a running `ctrip dev`."""
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTRIP_")}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "ctrip"), "dev", "--port", str(free_port(18000)),
                             "--anvil-port", str(free_port(18545))], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / ".ctrip" / "dev.json").exists() or not _answers(tmp_path):
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "ctrip dev did not come up"
        time.sleep(0.2)
    yield tmp_path, env
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    assert (tmp_path / ".ctrip" / "ctrip.db").exists()


def _answers(path: Path) -> bool:
    import httpx

    try:
        url = json.loads((path / ".ctrip" / "dev.json").read_text())["api_url"]
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except Exception:  # noqa: BLE001 - not up yet
        return False


def test_readme_tour_works_as_written(dev_dir):
    path, env = dev_dir
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", tour_script()], cwd=path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    payment = json.loads((path / "payment.json").read_text())
    assert payment["status"] == "pending" and payment["amount"] == "12.5"
    assert "sent 12500000 base units of TUSD" in result.stdout
    assert "confirmed" in result.stdout and "sweep: done" in result.stdout
    events = json.loads(result.stdout.strip().splitlines()[-1])
    assert [e["type"] for e in events["data"]][::-1][:2] == ["payment.detected", "payment.confirmed"]
