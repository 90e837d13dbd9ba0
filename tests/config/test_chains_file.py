"""chains.yaml (CONTRACT §2): `${ENV}` expansion, validation into ChainConfig, and errors naming file and key."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml

from ctrip_core.config import ChainConfig, ConfigError, load_chains
from ctrip_core.config.chains_file import DEFAULT_GAS_TANK_PATH

REPO_CHAINS = Path(__file__).resolve().parents[2] / "chains.yaml"

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TREASURY = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"
USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"

GOOD = {
    "adapter": "anvil",
    "chain_id": 31337,
    "rpc_url": "http://127.0.0.1:8545",
    "confirmations": 1,
    "block_time_s": 1,
    "native": {"symbol": "ETH", "decimals": 18},
    "tokens": [{"symbol": "TUSD", "address": TOKEN, "decimals": 6}],
    "treasury": TREASURY,
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.upper().startswith("CTRIP_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, data, name: str = "chains.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def entry(**changes) -> dict:
    e = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is ...:
            e.pop(key)
        else:
            e[key] = value
    return e


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_chains(path)
    return info.value


# --- the committed file ---------------------------------------------------------------------------


def test_committed_chains_yaml_loads():
    chains = load_chains(REPO_CHAINS)
    assert list(chains) == ["anvil"]
    c = chains["anvil"]
    assert isinstance(c, ChainConfig)
    assert (c.name, c.adapter, c.chain_id) == ("anvil", "anvil", 31337)
    assert c.rpc_urls == ["http://127.0.0.1:8545"]
    assert c.confirmations == 1
    assert (c.native.symbol, c.native.decimals) == ("ETH", 18)
    assert [(t.symbol, t.address, t.decimals) for t in c.tokens] == [("TUSD", TOKEN, 6)]
    assert c.treasury == TREASURY
    assert c.gas_tank == DEFAULT_GAS_TANK_PATH == "m/44'/60'/0'/1/0"
    assert c.asset("ETH") is c.native and c.asset("TUSD") is c.tokens[0] and c.asset("USDC") is None


def test_committed_chains_yaml_takes_rpc_url_and_token_from_env(monkeypatch):
    monkeypatch.setenv("CTRIP_ANVIL_RPC_URL", "http://127.0.0.1:18545")
    monkeypatch.setenv("CTRIP_ANVIL_TOKEN", "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")
    c = load_chains(REPO_CHAINS)["anvil"]
    assert c.rpc_urls == ["http://127.0.0.1:18545"]
    assert c.tokens[0].address == "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"


def test_good_entry_and_optional_keys(tmp_path):
    path = write(tmp_path, {"dev": entry(ws_url="ws://127.0.0.1:8545", gas_tank="m/44'/60'/0'/1/7",
                                         start_block=100),
                            "eth": entry(adapter="ethereum", chain_id=1, tokens=[], treasury=..., confirmations=...)})
    chains = load_chains(path)
    assert chains["dev"].ws_url == "ws://127.0.0.1:8545"
    assert chains["dev"].gas_tank == "m/44'/60'/0'/1/7"
    assert chains["dev"].start_block == 100
    assert chains["eth"].tokens == [] and chains["eth"].treasury is None
    assert chains["eth"].confirmations is None  # the adapter's default applies


def test_empty_file_has_no_chains(tmp_path):
    assert load_chains(write(tmp_path, "# nothing yet\n")) == {}


def test_missing_file_is_named(tmp_path):
    err = load_error(tmp_path / "absent.yaml")
    assert "absent.yaml" in err.where


def test_top_level_must_be_a_mapping(tmp_path):
    path = write(tmp_path, "- adapter: anvil\n")
    assert str(path) in load_error(path).where


# --- ${VAR} expansion -----------------------------------------------------------------------------


def test_env_reference_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_RPC", "https://rpc.example.org/v1")
    monkeypatch.setenv("MY_TREASURY", TREASURY)
    path = write(tmp_path, {"dev": entry(rpc_url="${MY_RPC}", treasury="${MY_TREASURY}")})
    c = load_chains(path)["dev"]
    assert c.rpc_urls == ["https://rpc.example.org/v1"]
    assert c.treasury == TREASURY


def test_env_reference_with_default(tmp_path, monkeypatch):
    monkeypatch.delenv("RPC_HOST", raising=False)
    monkeypatch.delenv("RPC_PORT", raising=False)
    path = write(tmp_path, {"dev": entry(rpc_url="http://${RPC_HOST:-127.0.0.1}:${RPC_PORT:-8545}/rpc")})
    assert load_chains(path)["dev"].rpc_urls == ["http://127.0.0.1:8545/rpc"]
    monkeypatch.setenv("RPC_PORT", "9545")
    assert load_chains(path)["dev"].rpc_urls == ["http://127.0.0.1:9545/rpc"]


def test_env_references_inside_lists_and_nested_entries(tmp_path, monkeypatch):
    monkeypatch.setenv("RPC_A", "http://a.example:8545")
    monkeypatch.setenv("TOKEN_ADDR", TOKEN)
    path = write(tmp_path, {"dev": entry(rpc_url=["${RPC_A}", "${RPC_B:-http://b.example:8545}"],
                                         tokens=[{"symbol": "TUSD", "address": "${TOKEN_ADDR}", "decimals": 6}])})
    c = load_chains(path)["dev"]
    assert c.rpc_urls == ["http://a.example:8545", "http://b.example:8545"]
    assert c.tokens[0].address == TOKEN


@pytest.mark.parametrize("changes, key", [
    ({"rpc_url": "${NO_SUCH_RPC_VAR}"}, "dev.rpc_url"),
    ({"rpc_url": ["http://a.example", "${NO_SUCH_RPC_VAR}"]}, "dev.rpc_url[1]"),
    ({"tokens": [{"symbol": "TUSD", "address": "${NO_SUCH_RPC_VAR}", "decimals": 6}]}, "dev.tokens[0].address"),
])
def test_unset_variable_without_default_names_key_and_variable(tmp_path, monkeypatch, changes, key):
    monkeypatch.delenv("NO_SUCH_RPC_VAR", raising=False)
    err = load_error(write(tmp_path, {"dev": entry(**changes)}))
    assert key in err.where
    assert "NO_SUCH_RPC_VAR" in err.message


def test_comments_are_not_expanded(tmp_path):
    text = yaml.safe_dump({"dev": GOOD}, sort_keys=False) + "# rpc_url: ${NEVER_SET_ANYWHERE}\n"
    assert load_chains(write(tmp_path, text))["dev"].chain_id == 31337


# --- YAML syntax ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text, line", [
    ("dev:\n  adapter: anvil\n  chain_id: 31337: x\n  block_time_s: 1\n", 3),
    ("dev:\n  adapter: anvil\n  chain_id: 31337\n  tokens: [a, b\n  block_time_s: 1\n", 5),
])
def test_yaml_syntax_error_gives_file_and_line(tmp_path, text, line):
    path = write(tmp_path, text)
    err = load_error(path)
    assert f"{path}:{line}" in err.where
    assert "YAML" in err.message


# --- bad entries: every error names the key -------------------------------------------------------


BAD_CASES = {
    "address not hex": (
        {"tokens": [{"symbol": "TUSD", "address": "0xZZZZ2315678afecb367f032d93F642f64180aa3", "decimals": 6}]},
        "dev.tokens.0.address", "hex address"),
    "address too short": (
        {"tokens": [{"symbol": "TUSD", "address": "0x5FbDB231", "decimals": 6}]},
        "dev.tokens.0.address", "hex address"),
    "token address not checksummed": (
        {"tokens": [{"symbol": "TUSD", "address": TOKEN.lower(), "decimals": 6}]},
        "dev.tokens.0.address", TOKEN),
    "treasury not checksummed": ({"treasury": TREASURY.lower()}, "dev.treasury", TREASURY),
    "treasury not an address": ({"treasury": "my cold wallet"}, "dev.treasury", "hex address"),
    "native symbol with a newline": ({"native": {"symbol": "ETH\n", "decimals": 18}}, "dev.native.symbol",
                                     "not a symbol"),
    "native decimals above 77": ({"native": {"symbol": "ETH", "decimals": 78}}, "dev.native.decimals", "77"),
    "native decimals negative": ({"native": {"symbol": "ETH", "decimals": -1}}, "dev.native.decimals", "0"),
    "native decimals a string": ({"native": {"symbol": "ETH", "decimals": "18"}}, "dev.native.decimals", ""),
    "native decimals a bool": ({"native": {"symbol": "ETH", "decimals": True}}, "dev.native.decimals", ""),
    "token decimals a float": (
        {"tokens": [{"symbol": "TUSD", "address": TOKEN, "decimals": 6.5}]}, "dev.tokens.0.decimals", ""),
    "token decimals a bool": (
        {"tokens": [{"symbol": "TUSD", "address": TOKEN, "decimals": False}]}, "dev.tokens.0.decimals", ""),
    "token symbol repeats native": (
        {"tokens": [{"symbol": "eth", "address": TOKEN, "decimals": 18}]}, "dev.tokens", "eth"),
    "token symbol repeats token": (
        {"tokens": [{"symbol": "TUSD", "address": TOKEN, "decimals": 6},
                    {"symbol": "TUSD", "address": USDC, "decimals": 6}]}, "dev.tokens", "TUSD"),
    "bad symbol": (
        {"tokens": [{"symbol": "T USD", "address": TOKEN, "decimals": 6}]}, "dev.tokens.0.symbol", "symbol"),
    "missing native": ({"native": ...}, "dev.native", "required"),
    "missing adapter": ({"adapter": ...}, "dev.adapter", "required"),
    "missing chain_id": ({"chain_id": ...}, "dev.chain_id", "required"),
    "missing rpc_url": ({"rpc_url": ...}, "dev.rpc_url", "required"),
    "missing token decimals": (
        {"tokens": [{"symbol": "TUSD", "address": TOKEN}]}, "dev.tokens.0.decimals", "required"),
    "unknown key in entry": ({"rpc": "http://x"}, "dev.rpc", "not permitted"),
    "unknown key in native": ({"native": {"symbol": "ETH", "decimals": 18, "name": "Ether"}},
                              "dev.native.name", "not permitted"),
    "rpc_url websocket": ({"rpc_url": "ws://127.0.0.1:8545"}, "dev.rpc_url", "http"),
    "rpc_url no scheme": ({"rpc_url": "127.0.0.1:8545"}, "dev.rpc_url", "http"),
    "rpc_url list with a bad one": ({"rpc_url": ["http://a.example", "ftp://b.example"]}, "dev.rpc_url", "ftp://"),
    "rpc_url empty list": ({"rpc_url": []}, "dev.rpc_url", ""),
    "ws_url http": ({"ws_url": "http://127.0.0.1:8545"}, "dev.ws_url", "ws(s) URL"),
    "confirmations zero": ({"confirmations": 0}, "dev.confirmations", "finalized"),
    "confirmations negative": ({"confirmations": -3}, "dev.confirmations", ""),
    "chain_id zero": ({"chain_id": 0}, "dev.chain_id", ""),
    "chain_id a string": ({"chain_id": "31337"}, "dev.chain_id", ""),
    "block_time_s zero": ({"block_time_s": 0}, "dev.block_time_s", ""),
    "min_sweep finer than the token": (
        {"tokens": [{"symbol": "TUSD", "address": TOKEN, "decimals": 6, "min_sweep": "0.0000001"}]},
        "dev.tokens.0", "min_sweep has 7 decimals; this asset has 6"),
    "min_sweep with exponent": (
        {"tokens": [{"symbol": "TUSD", "address": TOKEN, "decimals": 6, "min_sweep": "1e3"}]},
        "dev.tokens.0", "not a plain decimal"),
    "min_sweep a number": (
        {"tokens": [{"symbol": "TUSD", "address": TOKEN, "decimals": 6, "min_sweep": 5}]},
        "dev.tokens.0.min_sweep", "string"),
}


@pytest.mark.parametrize("changes, key, says", list(BAD_CASES.values()), ids=list(BAD_CASES))
def test_bad_entry_names_file_and_key(tmp_path, changes, key, says):
    path = write(tmp_path, {"ok": entry(chain_id=1, adapter="ethereum"), "dev": entry(**changes)})
    err = load_error(path)
    assert err.where == f"{path}: {key}" or err.where.startswith(f"{path}: {key}")
    assert says in err.message
    assert "\n" not in str(err)


@pytest.mark.parametrize("key, url", [("rpc_url", "https://rpc.example/v3/SECRETKEY0123 oops"),
                                      ("rpc_url", "ftp://user:SECRETPASS@rpc.example"),
                                      ("ws_url", "https://rpc.example/ws/SECRETKEY0123")])
def test_a_bad_node_url_is_refused_without_echoing_its_key(tmp_path, key, url):
    err = load_error(write(tmp_path, {"dev": entry(**{key: url})}))
    assert err.where == f"{tmp_path / 'chains.yaml'}: dev.{key}"
    assert "rpc.example" in err.message and "SECRET" not in str(err)


def test_non_checksummed_message_shows_expected_checksum(tmp_path):
    path = write(tmp_path, {"dev": entry(treasury=TREASURY.lower())})
    err = load_error(path)
    assert f"expected {TREASURY}" in err.message


def test_duplicate_chain_id_names_both_chains(tmp_path):
    path = write(tmp_path, {"first": entry(), "second": entry(rpc_url="http://127.0.0.1:9545")})
    err = load_error(path)
    assert err.where == f"{path}: second.chain_id"
    assert "first" in err.message and "31337" in err.message


def test_entry_not_a_mapping_is_named(tmp_path):
    path = write(tmp_path, {"dev": "anvil"})
    assert load_error(path).where == f"{path}: dev"


# --- accepted variants ----------------------------------------------------------------------------


def test_min_sweep_is_exact_base_units(tmp_path):
    tokens = [{"symbol": "TUSD", "address": TOKEN, "decimals": 6, "min_sweep": "12.000001"},
              {"symbol": "USDC", "address": USDC, "decimals": 6}]
    chains = load_chains(write(tmp_path, {"dev": entry(tokens=tokens)}))
    assert [t.min_sweep_base_units() for t in chains["dev"].tokens] == [12_000_001, 0]


def test_rpc_url_list_is_failover_order(tmp_path):
    urls = ["https://primary.example/rpc", "http://fallback.example:8545"]
    c = load_chains(write(tmp_path, {"dev": entry(rpc_url=urls)}))["dev"]
    assert c.rpc_urls == urls


def test_confirmations_finalized_accepted(tmp_path):
    c = load_chains(write(tmp_path, {"dev": entry(confirmations="finalized")}))["dev"]
    assert c.confirmations == "finalized"


def test_decimals_bounds_accepted(tmp_path):
    c = load_chains(write(tmp_path, {"dev": entry(
        native={"symbol": "ETH", "decimals": 0},
        tokens=[{"symbol": "BIG", "address": TOKEN, "decimals": 77}])}))["dev"]
    assert c.native.decimals == 0 and c.tokens[0].decimals == 77


def test_same_token_symbol_on_two_chains_is_fine(tmp_path):
    chains = load_chains(write(tmp_path, {"a": entry(), "b": entry(adapter="ethereum", chain_id=1)}))
    assert chains["a"].tokens[0].symbol == chains["b"].tokens[0].symbol == "TUSD"
