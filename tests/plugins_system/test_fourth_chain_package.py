"""A new EVM chain is a pip package with one entry point: no core change, configuration only.

The example package examples/ctrip_gnosis (the docs walkthrough) is pip-installed into a temporary
directory and put on PYTHONPATH of a real `ctrip` subprocess, against an Anvil node serving 100.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ctrip_core.devnet.anvil import AnvilNode

FIXTURE = Path(__file__).parents[2] / "examples" / "ctrip_gnosis"


@pytest.fixture(scope="module")
def gnosis_site(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    shutil.copytree(FIXTURE, build / "pkg")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(target), str(build / "pkg")], check=True)
    return target


@pytest.fixture(scope="module")
def gnosis_node():
    node = AnvilNode.start(chain_id=100)
    yield node
    node.stop()


def ctrip(args, env_extra, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTRIP_")}
    env.update(env_extra)
    exe = Path(sys.executable).parent / "ctrip"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def write_chains(tmp_path, rpc_url):
    path = tmp_path / "chains.yaml"
    path.write_text(f"""
gnosis:
  adapter: gnosis
  chain_id: 100
  rpc_url: {rpc_url}
  block_time_s: 2
  native: {{symbol: XDAI, decimals: 18}}
""")
    return path


def test_fourth_chain_works_through_configuration_alone(gnosis_site, gnosis_node, tmp_path):
    env = {"PYTHONPATH": str(gnosis_site), "CTRIP_CHAINS_FILE": str(write_chains(tmp_path, gnosis_node.rpc_url))}
    plugins = ctrip(["plugins", "--json"], env, tmp_path)
    assert plugins.returncode == 0, plugins.stderr
    assert {"name": "gnosis", "package": "ctrip-gnosis", "enabled": True} \
        .items() <= next(p for p in json.loads(plugins.stdout) if p["name"] == "gnosis").items()

    chains = ctrip(["chains", "--json"], env, tmp_path)
    assert chains.returncode == 0, chains.stderr
    (row,) = json.loads(chains.stdout)
    assert row["adapter"] == "gnosis" and row["node_chain_id"] == 100 and row["head"] >= 0
    assert row["confirmations"] == 20  # the plugin's default, not the core's


def test_without_the_package_the_same_config_names_adapter_and_chain(gnosis_node, tmp_path):
    env = {"CTRIP_CHAINS_FILE": str(write_chains(tmp_path, gnosis_node.rpc_url))}
    result = ctrip(["chains"], env, tmp_path)
    assert result.returncode == 2
    assert "'gnosis'" in result.stderr and "adapter" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_installed_but_not_enabled_is_named(gnosis_site, gnosis_node, tmp_path):
    env = {"PYTHONPATH": str(gnosis_site), "CTRIP_PLUGINS__ENABLED": '["anvil"]',
           "CTRIP_CHAINS_FILE": str(write_chains(tmp_path, gnosis_node.rpc_url))}
    result = ctrip(["chains"], env, tmp_path)
    assert result.returncode == 2
    assert "not in plugins.enabled" in result.stderr and "gnosis" in result.stderr
