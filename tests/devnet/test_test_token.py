"""The test ERC-20 on a real Anvil: deployment, balances, multi-log batch transfers, reproducible build."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_abi import decode
from eth_abi.exceptions import EncodingTypeError
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address

from ctrip_core.devnet import token as tt
from ctrip_core.devnet.anvil import AnvilNode
from ctrip_core.devnet.accounts import FUNDER, FUNDER_KEY

ROOT = Path(__file__).resolve().parents[2]
TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()


def _read(anvil, token: str, signature: str, out_type: str):
    """eth_call a no-argument view function and decode its single return value."""
    data = "0x" + function_signature_to_4byte_selector(signature).hex()
    result = anvil.rpc("eth_call", {"to": token, "data": data}, "latest")
    return decode([out_type], bytes.fromhex(result.removeprefix("0x")))[0]


def _fresh() -> str:
    """A never-used address, so balances start at zero on the shared session chain."""
    return Account.create().address


@pytest.fixture(scope="module")
def usd(anvil) -> str:
    return tt.deploy_test_token(anvil.rpc_url, FUNDER_KEY)


def test_deploy_defaults(anvil, usd):
    assert usd == to_checksum_address(usd)
    assert _read(anvil, usd, "name()", "string") == "Test USD"
    assert _read(anvil, usd, "symbol()", "string") == "TUSD"
    assert _read(anvil, usd, "decimals()", "uint8") == 6
    assert _read(anvil, usd, "totalSupply()", "uint256") == 0


def test_deploy_18_decimals(anvil):
    eth = tt.deploy_test_token(anvil.rpc_url, FUNDER_KEY, name="Test Ether", symbol="TETH", decimals=18)
    assert _read(anvil, eth, "name()", "string") == "Test Ether"
    assert _read(anvil, eth, "symbol()", "string") == "TETH"
    assert _read(anvil, eth, "decimals()", "uint8") == 18


def test_mint_and_transfer_exact(anvil, usd):
    alice, bob = _fresh(), _fresh()
    supply = _read(anvil, usd, "totalSupply()", "uint256")
    big = 10**30 + 7  # beyond float precision: amounts must stay ints end to end
    tt.mint(anvil.rpc_url, FUNDER_KEY, usd, FUNDER, big)
    tt.mint(anvil.rpc_url, FUNDER_KEY, usd, alice, 1_234_567)
    assert tt.balance_of(anvil.rpc_url, usd, alice) == 1_234_567
    assert _read(anvil, usd, "totalSupply()", "uint256") == supply + big + 1_234_567

    before = tt.balance_of(anvil.rpc_url, usd, FUNDER)
    tx_hash = tt.transfer(anvil.rpc_url, FUNDER_KEY, usd, bob, 10**30)
    assert tx_hash.startswith("0x") and len(tx_hash) == 66
    assert tt.balance_of(anvil.rpc_url, usd, bob) == 10**30
    assert tt.balance_of(anvil.rpc_url, usd, FUNDER) == before - 10**30


def test_transfer_beyond_balance_fails(anvil, usd):
    broke = Account.create()
    anvil.rpc("anvil_setBalance", broke.address, hex(10**18))
    with pytest.raises(RuntimeError, match="balance"):
        tt.transfer(anvil.rpc_url, broke.key.hex(), usd, _fresh(), 1)


def test_float_amount_rejected(anvil, usd):
    """Floats lose precision above 2**53; the ABI encoder refuses them before anything is signed."""
    with pytest.raises(EncodingTypeError):
        tt.mint(anvil.rpc_url, FUNDER_KEY, usd, _fresh(), 1.5)


def test_batch_transfer_emits_one_log_per_recipient(anvil, usd):
    recipients, amounts = [_fresh() for _ in range(3)], [1, 22, 333_000_000]
    tt.mint(anvil.rpc_url, FUNDER_KEY, usd, FUNDER, sum(amounts))
    tx_hash = tt.batch_transfer(anvil.rpc_url, FUNDER_KEY, usd, recipients, amounts)

    receipt = anvil.rpc("eth_getTransactionReceipt", tx_hash)
    logs = [log for log in receipt["logs"] if log["topics"][0] == TRANSFER_TOPIC]
    assert len(logs) == 3
    for log, to, amount in zip(logs, recipients, amounts):
        assert to_checksum_address(log["address"]) == usd
        assert to_checksum_address("0x" + log["topics"][1][-40:]) == FUNDER
        assert to_checksum_address("0x" + log["topics"][2][-40:]) == to
        assert int(log["data"], 16) == amount
        assert tt.balance_of(anvil.rpc_url, usd, to) == amount


def test_batch_transfer_length_mismatch(anvil, usd):
    with pytest.raises(ValueError):
        tt.batch_transfer(anvil.rpc_url, FUNDER_KEY, usd, [_fresh()], [1, 2])


def test_deploy_under_interval_mining():
    """With `--block-time` the receipt is not there at once; the helpers must poll for it."""
    node = AnvilNode.start(block_time_s=1)
    try:
        token = tt.deploy_test_token(node.rpc_url, FUNDER_KEY)
        tt.mint(node.rpc_url, FUNDER_KEY, token, FUNDER, 5)
        assert tt.balance_of(node.rpc_url, token, FUNDER) == 5
    finally:
        node.stop()


def test_artifact_is_package_data():
    artifact = tt.load_artifact()
    assert artifact["contract"] == "TestToken"
    assert artifact["solc"].startswith("0.8.")
    assert artifact["bytecode"].startswith("0x60")
    assert {item.get("name") for item in artifact["abi"]} >= {"mint", "batchTransfer", "Transfer"}


def test_build_reproduces_committed_artifact(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed; cannot rebuild contracts/TestToken.sol")
    if not (ROOT / ".tools/node_modules/solc").is_dir():
        pytest.skip("npm solc missing under .tools/node_modules; run `npm ci --prefix .tools`")
    out = tmp_path / "test_token.json"
    subprocess.run([node, str(ROOT / "contracts/build.js"), "--only", "TestToken", "--out", str(out)], check=True, timeout=120)
    committed = ROOT / "ctrip_core/devnet/test_token.json"
    assert out.read_bytes() == committed.read_bytes()
    assert json.loads(out.read_text())["solc"].startswith("0.8.37+")
