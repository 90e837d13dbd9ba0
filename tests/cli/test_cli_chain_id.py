"""`ctrip worker` and `ctrip scheduler` refuse to start when no RPC URL of a chain serves its chain id
(issue 14, defect 12b): one line, exit 2, no traceback, before any process is forked. Against a
real Anvil started with another `--chain-id` than chains.yaml says."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ctrip_core.devnet.accounts import ANVIL_XPUB
from ctrip_core.devnet.anvil import AnvilNode
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file

CTRIP = shutil.which("ctrip", path=str(Path(sys.executable).parent))


@pytest.fixture(scope="module")
def other_chain():
    node = AnvilNode.start(chain_id=4242)
    yield node
    node.stop()


@pytest.mark.parametrize("argv", [["worker", "--queues", "scan,confirm"], ["scheduler"]])
def test_a_process_whose_chain_no_url_serves_exits_2_with_one_line(tmp_path, other_chain, argv):
    chains = write_anvil_chains_file(tmp_path / "chains.yaml", [other_chain.rpc_url, other_chain.rpc_url + "/"],
                                     name="dev", treasury=None)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CTRIP_")}
    env |= {"CTRIP_CHAINS_FILE": str(chains), "CTRIP_WALLET__XPUB": ANVIL_XPUB, "CTRIP_ENV": "testing"}
    result = subprocess.run([CTRIP, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ctrip: configuration error: chain dev: chains.yaml says chain_id 31337")
    assert "answers 4242" in lines[0] and "Traceback" not in result.stderr
