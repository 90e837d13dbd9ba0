"""deploy/systemd/: the units pass the real `systemd-analyze verify` (on copies whose ExecStart names
this checkout's `ctrip`, since verify wants the binary to exist), only the sweeper's unit reads the
mnemonic's file, and the units run the same processes as docker-compose.yml."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from compose_stack import ROOT, compose, read_env_file
from subprocesses import CTRIP

UNITS = ROOT / "deploy" / "systemd"
NAMES = ("ctrip-api", "ctrip-worker", "ctrip-sweeper", "ctrip-scheduler")
INSTALLED_CTRIP = "/opt/ctrip/venv/bin/ctrip"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string((UNITS / f"{name}.service").read_text())
    return parser


def environment_files(name: str) -> list[str]:
    return [line.split("=", 1)[1].lstrip("-") for line in (UNITS / f"{name}.service").read_text().splitlines()
            if line.startswith("EnvironmentFile=")]


def exec_start(name: str) -> list[str]:
    return shlex.split(unit(name)["Service"]["ExecStart"])


@pytest.fixture
def verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")

    def run(units: list[Path]) -> subprocess.CompletedProcess:
        return subprocess.run([analyze, "verify", *map(str, units)], capture_output=True, text=True, timeout=60,
                              cwd=tmp_path)

    probe = run([])
    if "Failed to initialize" in probe.stderr or "not been booted with systemd" in probe.stderr:
        pytest.skip(f"systemd-analyze verify cannot run here: {probe.stderr.strip().splitlines()[0]}")
    return run


def copies(tmp_path: Path) -> list[Path]:
    out = []
    for name in NAMES:
        path = tmp_path / f"{name}.service"
        path.write_text((UNITS / f"{name}.service").read_text().replace(INSTALLED_CTRIP, CTRIP))
        out.append(path)
    return out


def test_systemd_analyze_verifies_the_units(verify, tmp_path):
    result = verify(copies(tmp_path))
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def test_verify_would_catch_a_broken_unit(verify, tmp_path):
    """The control: a misspelled key is reported (verify exits 0 on it, hence the empty-output check above)."""
    broken = copies(tmp_path)[0]
    broken.write_text(broken.read_text().replace("RestartSec=", "RestartSecs="))
    result = verify([broken])
    assert "RestartSecs" in result.stderr


def test_only_the_sweeper_reads_the_mnemonic_file():
    for name in NAMES:
        files = environment_files(name)
        assert "/etc/ctrip/ctrip.env" in files, name
        assert ("/etc/ctrip/sweeper.env" in files) == (name == "ctrip-sweeper"), name
    assert "CTRIP_WALLET__MNEMONIC" not in read_env_file(UNITS / "ctrip.env.example")
    assert list(read_env_file(UNITS / "sweeper.env.example")) == ["CTRIP_WALLET__MNEMONIC"]


def test_the_units_run_what_compose_runs():
    services = compose()["services"]
    for name, service in (("ctrip-worker", "worker"), ("ctrip-sweeper", "sweeper"), ("ctrip-scheduler", "scheduler"),
                          ("ctrip-api", "app")):
        argv = exec_start(name)
        assert argv[0] == INSTALLED_CTRIP, name
        command = services[service]["command"]
        assert argv[1:3] == command[1:3], name
        if "--queues" in command:
            assert argv[argv.index("--queues") + 1] == command[command.index("--queues") + 1], name


def test_the_env_example_names_what_the_production_chains_file_needs():
    from compose_stack import chains_file_variables

    example = read_env_file(UNITS / "ctrip.env.example")
    assert chains_file_variables(ROOT / "deploy" / "chains.yaml") <= set(example)
    assert example["CTRIP_ENV"] == "production" and example["CTRIP_CHAINS_FILE"] == "/etc/ctrip/chains.yaml"
