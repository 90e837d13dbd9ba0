"""The real `ctrip` console script (CONTRACT §1, §2): exit codes, one-line configuration errors, and the
plugins / chains / wallet commands against a real Anvil node.

Each case runs the installed script in a subprocess, from an empty temporary directory, with every
CTRIP_ variable of the calling environment removed, so configuration comes only from what the case
sets. The bad-configuration cases run concurrently to keep the module fast.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

from ctrip_core.devnet.accounts import ANVIL_MNEMONIC, ANVIL_XPUB, FUNDER

REPO = Path(__file__).resolve().parents[2]
REPO_CHAINS = REPO / "chains.yaml"
CTRIP = shutil.which("ctrip", path=str(Path(sys.executable).parent))
#: m/44'/60'/0'/1/0 of ANVIL_MNEMONIC (checked independently with eth_account's HD derivation).
ANVIL_GAS_TANK = "0x4b39F7b0624b9dB86AD293686bc38B903142dbBc"

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TREASURY = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"

pytestmark = pytest.mark.skipif(CTRIP is None, reason="never: the venv's console script must exist")


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


DEAD_RPC = _dead_url()


def chain_entry(**changes) -> dict:
    entry = {
        "adapter": "anvil",
        "chain_id": 31337,
        "rpc_url": DEAD_RPC,
        "confirmations": 1,
        "block_time_s": 1,
        "native": {"symbol": "ETH", "decimals": 18},
        "tokens": [{"symbol": "TUSD", "address": TOKEN, "decimals": 6}],
        "treasury": TREASURY,
    }
    entry.update(changes)
    return entry


def run_ctrip(cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None,
              timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CTRIP_")}
    full_env.update(env or {})
    return subprocess.run([CTRIP, *args], cwd=cwd, env=full_env, input=stdin if stdin is not None else "",
                          capture_output=True, text=True, timeout=timeout)


def one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{stderr}"
    return lines[0]


# --- bad configuration: exit 2 with one line naming the key or file -------------------------------

# name → (argv, env, chains file content (dict → YAML, str → as is, None → none written), needles)
# "{file}" in env values and needles is replaced by the case's chains file path.
BAD = {
    "unknown adapter": (
        ["chains"], {}, {"zk": chain_entry(adapter="zkfoo", chain_id=424242)},
        ["{file}", "zk.adapter", "zkfoo"]),
    "plugin not enabled": (
        ["chains"], {"CTRIP_PLUGINS__ENABLED": '["bsc"]'}, {"dev": chain_entry()},
        ["{file}", "dev.adapter", "anvil", "plugins.enabled"]),
    "plugins.enabled names uninstalled plugin": (
        ["chains"], {"CTRIP_PLUGINS__ENABLED": '["anvil", "zkfoo"]'}, {"dev": chain_entry()},
        ["plugins.enabled", "zkfoo"]),
    "adapter does not serve chain id": (
        ["chains"], {}, {"main": chain_entry(adapter="ethereum")},
        ["{file}", "main.chain_id", "ethereum", "31337"]),
    "missing xpub": (
        ["wallet", "address", "0"], {}, None,
        ["wallet.xpub"]),
    "mnemonic for an API-side command": (
        ["wallet", "address", "0"], {"CTRIP_WALLET__MNEMONIC": ANVIL_MNEMONIC, "CTRIP_WALLET__XPUB": ANVIL_XPUB}, None,
        ["wallet.mnemonic"]),
    "bad token address": (
        ["chains"], {}, {"dev": chain_entry(tokens=[{"symbol": "TUSD", "address": TOKEN.lower(), "decimals": 6}])},
        ["{file}", "dev.tokens.0.address", TOKEN]),
    "bad treasury address": (
        ["chains"], {}, {"dev": chain_entry(treasury="0xnothex")},
        ["{file}", "dev.treasury"]),
    "bad decimals": (
        ["chains"], {}, {"dev": chain_entry(native={"symbol": "ETH", "decimals": 78})},
        ["{file}", "dev.native.decimals"]),
    "duplicate chain id": (
        ["chains"], {}, {"one": chain_entry(), "two": chain_entry()},
        ["{file}", "two.chain_id", "one"]),
    "yaml syntax error": (
        ["chains"], {}, "dev:\n  adapter: anvil\n  chain_id: 31337: x\n  block_time_s: 1\n",
        ["{file}:3", "YAML"]),
    "missing chains file": (
        ["chains"], {"CTRIP_CHAINS_FILE": "{file}.missing"}, None,
        ["{file}.missing"]),
    "invalid CTRIP_ENV": (
        ["plugins"], {"CTRIP_ENV": "staging"}, None,
        ["CTRIP_ENV"]),
    "equivalent asset not configured": (
        ["worker"], {"CTRIP_PAYMENTS__EQUIVALENT_ASSETS": '[["TUSD"], ["USCD"]]'}, {"dev": chain_entry()},
        ["payments.equivalent_assets", "'USCD'"]),
    "bad setting type": (
        ["plugins"], {"CTRIP_PAYMENTS__DEFAULT_EXPIRY_S": "abc"}, None,
        ["payments.default_expiry_s"]),
}


@pytest.fixture(scope="module")
def bad_results(tmp_path_factory):
    """Run every BAD case at once; name → (CompletedProcess, chains file path)."""
    def one(name: str):
        cwd = tmp_path_factory.mktemp("cli-bad")
        argv, env, chains, _ = BAD[name]
        file = cwd / "cfg" / "chains.yaml"
        file.parent.mkdir()
        if chains is not None:
            file.write_text(chains if isinstance(chains, str) else yaml.safe_dump(chains, sort_keys=False))
        full_env = {"CTRIP_CHAINS_FILE": str(file)}
        full_env.update({k: v.replace("{file}", str(file)) for k, v in env.items()})
        return name, (run_ctrip(cwd, *argv, env=full_env), file)

    with ThreadPoolExecutor(max_workers=max(2, min(6, os.cpu_count() or 2))) as pool:
        return dict(pool.map(one, BAD))


@pytest.mark.parametrize("name", list(BAD))
def test_bad_configuration_exits_2_with_one_line(bad_results, name):
    result, file = bad_results[name]
    assert result.returncode == 2, (result.stdout, result.stderr)
    line = one_line(result.stderr)
    assert line.startswith("ctrip: configuration error: ")
    for needle in BAD[name][3]:
        assert needle.replace("{file}", str(file)) in line, line
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# --- ctrip plugins ---------------------------------------------------------------------------------


def test_plugins_lists_bundled_and_core_plugins(tmp_path):
    result = run_ctrip(tmp_path, "plugins")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:] if line.strip()}
    for name in ("anvil", "bsc", "ethereum"):
        assert name in rows and rows[name][-1] == "enabled"
        assert rows[name][1] == f"ctrip-{name}"
    for name in ("native", "erc20", "hd_wallet", "webhook"):
        assert name in rows and rows[name][-1] == "core"
        assert rows[name][1] == "ctrip-core"


def test_plugins_json_shows_what_plugins_enabled_selects(tmp_path):
    result = run_ctrip(tmp_path, "plugins", "--json", env={"CTRIP_PLUGINS__ENABLED": '["anvil"]'})
    assert result.returncode == 0, result.stderr
    found = {p["name"]: p for p in json.loads(result.stdout)}
    assert {"anvil", "bsc", "ethereum", "native", "erc20", "hd_wallet", "webhook"} <= set(found)
    assert found["anvil"]["enabled"] is True
    assert found["bsc"]["enabled"] is False and found["ethereum"]["enabled"] is False
    for name in ("native", "erc20", "hd_wallet", "webhook"):
        assert found[name]["core"] is True and found[name]["enabled"] is True
    assert all(p["version"] and p["package"] for p in found.values())


# --- ctrip chains against a real node --------------------------------------------------------------


def _rpc(url: str, method: str, *params):
    reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=10)
    return reply.json()["result"]


def test_chains_reports_head_block_of_anvil(tmp_path, anvil):
    before = int(_rpc(anvil.rpc_url, "eth_blockNumber"), 16)
    result = run_ctrip(tmp_path, "chains",
                       env={"CTRIP_CHAINS_FILE": str(REPO_CHAINS), "CTRIP_ANVIL_RPC_URL": anvil.rpc_url})
    after = int(_rpc(anvil.rpc_url, "eth_blockNumber"), 16)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stderr == ""
    header, *rows = result.stdout.splitlines()
    assert header.split()[:5] == ["CHAIN", "ADAPTER", "ID", "CONF", "HEAD"]
    assert len(rows) == 1
    chain, adapter, chain_id, conf, head, rpc = rows[0].split(maxsplit=5)
    assert (chain, adapter, chain_id, conf, rpc) == ("anvil", "anvil", "31337", "1", "ok")
    assert before <= int(head) <= after


def test_chains_refuses_a_node_of_another_chain(tmp_path, anvil):
    chains = tmp_path / "chains.yaml"
    chains.write_text(yaml.safe_dump({"eth": chain_entry(adapter="ethereum", chain_id=1, rpc_url=anvil.rpc_url,
                                                         confirmations=12, block_time_s=12)}))
    result = run_ctrip(tmp_path, "chains")  # chains_file defaults to ./chains.yaml
    assert result.returncode == 2, (result.stdout, result.stderr)
    line = one_line(result.stderr)
    assert line.startswith("ctrip: configuration error: ")
    assert "eth.chain_id" in line and "31337" in line and " 1" in line
    # The table still shows what the node answered.
    assert "31337" in result.stdout


def test_chains_with_dead_rpc_exits_1(tmp_path):
    chains = tmp_path / "chains.yaml"
    chains.write_text(yaml.safe_dump({"dev": chain_entry(rpc_url=DEAD_RPC)}))
    result = run_ctrip(tmp_path, "chains", env={"CTRIP_CHAINS_FILE": str(chains)})
    assert result.returncode == 1, (result.stdout, result.stderr)
    line = one_line(result.stderr)
    assert line.startswith("ctrip: error: ") and "dev" in line
    assert "down" in result.stdout


# --- ctrip wallet --------------------------------------------------------------------------------


def test_wallet_xpub_from_stdin(tmp_path):
    result = run_ctrip(tmp_path, "wallet", "xpub", stdin=ANVIL_MNEMONIC + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ANVIL_XPUB
    assert ANVIL_MNEMONIC not in result.stdout + result.stderr


def test_wallet_address_from_xpub(tmp_path):
    result = run_ctrip(tmp_path, "wallet", "address", "0", env={"CTRIP_WALLET__XPUB": ANVIL_XPUB})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == FUNDER == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_wallet_gas_tank_address_and_balance(tmp_path, anvil):
    result = run_ctrip(tmp_path, "wallet", "gas-tank",
                       env={"CTRIP_WALLET__XPUB": ANVIL_XPUB, "CTRIP_CHAINS_FILE": str(REPO_CHAINS),
                            "CTRIP_ANVIL_RPC_URL": anvil.rpc_url})
    assert result.returncode == 0, (result.stdout, result.stderr)
    balance = int(_rpc(anvil.rpc_url, "eth_getBalance", ANVIL_GAS_TANK, "latest"), 16)
    assert result.stdout.splitlines() == [f"anvil\t{ANVIL_GAS_TANK}\t{balance} wei\tm/44'/60'/0'/1/0"]
