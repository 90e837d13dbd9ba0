"""The README's tour, run as written against a real `ctrip dev` (its own Anvil, SQLite and jobs)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from subprocesses import dev_env, running_dev

ROOT = Path(__file__).parents[2]


def tour_script() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## A tour"):]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def dev_dir(tmp_path):
    """A directory like the checkout's root: `.venv` (linked) and a running `ctrip dev`."""
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    with running_dev(tmp_path):
        yield tmp_path, dev_env()
    assert (tmp_path / ".ctrip" / "ctrip.db").exists()


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
