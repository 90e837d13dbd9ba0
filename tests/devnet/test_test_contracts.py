"""The test contracts of the L2 and USDT tests: each committed artifact is what its source builds to."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("name,artifact", [("NoReturnToken", "no_return_token.json"),
                                           ("GasPriceOracle", "gas_price_oracle.json"),
                                           ("CodeTreasury", "code_treasury.json"),
                                           ("TestAggregator", "test_aggregator.json")])
def test_build_reproduces_the_committed_artifact(name, artifact, tmp_path):
    node = shutil.which("node")
    if node is None or not (ROOT / ".tools/node_modules/solc").is_dir():
        pytest.skip("node or the pinned solc is missing: `make install` installs both")
    out = tmp_path / artifact
    subprocess.run([node, str(ROOT / "contracts/build.js"), "--only", name, "--out", str(out)], check=True,
                   timeout=120, capture_output=True)
    assert out.read_bytes() == (ROOT / "ctrip_core/devnet" / artifact).read_bytes()
