"""The sweeper's keys: it refuses to start without a treasury, without the mnemonic, or with a mnemonic
that is not wallet.xpub's (directly and through `ctrip worker --queues sweep`, exit 2), and the
mnemonic (or any key derived from it) never reaches a log line or a database row.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import pytest_asyncio
from eth_account import Account
from sqlalchemy import text

from testbed import make_settings
from ctrip_core.config import ConfigError
from ctrip_core.config.chains_file import load_chains
from ctrip_core.devnet.accounts import ANVIL_MNEMONIC, FUNDER, FUNDER_KEY, GATEWAY_MNEMONIC, GATEWAY_XPUB
from ctrip_core.devnet.anvil import free_port
from ctrip_core.devnet.token import deploy_test_token, mint
from ctrip_core.services.sweeps.keys import SweepKeys
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from sweep_support import ETH, close_gateway, open_gateway

pytestmark = pytest.mark.timeout(90)
CTRIP = str(Path(sys.executable).parent / "ctrip")
UNUSED_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/ctrip_sweep_keys_never_used"
TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
NOT_A_MNEMONIC = " ".join(["abandon"] * 12)  # twelve valid words, wrong checksum
#: (wallet settings, treasury in chains.yaml, the key the error must name, words of its message)
REFUSALS = {
    "treasury missing": ({"xpub": GATEWAY_XPUB, "mnemonic": GATEWAY_MNEMONIC}, None, "anvil.treasury", "required"),
    "mnemonic missing": ({"xpub": GATEWAY_XPUB}, "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720", "wallet.mnemonic",
                         "not set"),
    "mnemonic of another wallet": ({"xpub": GATEWAY_XPUB, "mnemonic": ANVIL_MNEMONIC},
                                   "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720", "wallet.mnemonic", "wallet.xpub"),
    "not a mnemonic": ({"xpub": GATEWAY_XPUB, "mnemonic": NOT_A_MNEMONIC},
                       "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720", "wallet.mnemonic", "BIP-39"),
}


def leaks(text_: str) -> list[str]:
    """Pieces of any test mnemonic found in `text_` (two consecutive words are enough to count)."""
    pieces = []
    for mnemonic in (GATEWAY_MNEMONIC, ANVIL_MNEMONIC, NOT_A_MNEMONIC):
        words = mnemonic.split()
        pieces += [" ".join(words[i:i + 2]) for i in range(len(words) - 1)]
    lowered = text_.lower()
    return sorted({p for p in pieces if p in lowered})


@pytest.mark.parametrize("case", REFUSALS)
def test_sweeper_refuses_to_start(case, tmp_path):
    wallet, treasury, key, words = REFUSALS[case]
    chains = write_anvil_chains_file(tmp_path / "chains.yaml", f"http://127.0.0.1:{free_port()}", TOKEN,
                                     treasury=treasury)
    settings = make_settings(UNUSED_DB, chains, wallet=wallet)
    with pytest.raises(ConfigError) as info:
        SweepKeys.from_settings(settings, load_chains(chains))
    assert key in info.value.where and words in info.value.message, str(info.value)
    assert not leaks(str(info.value)), "the error repeats the mnemonic"


def test_sweep_worker_exits_2_naming_the_key(tmp_path):
    """The same refusals from the real console script, configured by environment variables alone."""
    def run(case: str) -> subprocess.CompletedProcess:
        wallet, treasury, _, _ = REFUSALS[case]
        workdir = tmp_path / case.replace(" ", "-")
        workdir.mkdir()
        chains = write_anvil_chains_file(workdir / "chains.yaml", f"http://127.0.0.1:{free_port()}", TOKEN,
                                         treasury=treasury)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CTRIP_")}
        env.update(CTRIP_ENV="testing", CTRIP_DATABASE_URL=UNUSED_DB, CTRIP_REDIS_URL="redis://127.0.0.1:6379/9",
                   CTRIP_CHAINS_FILE=str(chains), CTRIP_SECRET_KEY="a-test-secret-key-0123456789-abcdef",
                   **{f"CTRIP_WALLET__{k.upper()}": v for k, v in wallet.items()})
        return subprocess.run([CTRIP, "worker", "--queues", "sweep"], env=env, cwd=workdir, capture_output=True,
                              text=True, timeout=60)

    with ThreadPoolExecutor(len(REFUSALS)) as pool:
        results = dict(zip(REFUSALS, pool.map(run, REFUSALS)))
    for case, result in results.items():
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2, (case, result.returncode, result.stderr[-2000:])
        assert len(lines) == 1 and REFUSALS[case][2] in lines[0], (case, result.stderr)
        assert not leaks(result.stdout + result.stderr), (case, "the mnemonic leaked")


def test_the_keys_are_those_of_the_wallet(tmp_path):
    Account.enable_unaudited_hdwallet_features()
    chains = write_anvil_chains_file(tmp_path / "chains.yaml", f"http://127.0.0.1:{free_port()}", TOKEN)
    settings = make_settings(UNUSED_DB, chains, wallet={"xpub": GATEWAY_XPUB, "mnemonic": GATEWAY_MNEMONIC})
    keys = SweepKeys.from_settings(settings, load_chains(chains))
    tank = Account.from_mnemonic(GATEWAY_MNEMONIC, account_path="m/44'/60'/0'/1/0")
    assert keys.tank_address("anvil") == tank.address and keys.tank_key("anvil") == bytes(tank.key)
    deposit = Account.from_mnemonic(GATEWAY_MNEMONIC, account_path="m/44'/60'/0'/0/7")
    assert keys.deposit_key(7) == bytes(deposit.key)
    assert repr(keys) == "SweepKeys(<keys hidden>)" and not leaks(repr(keys))


@pytest_asyncio.fixture(scope="module")
async def gw(node, tmp_path_factory):
    tusd = deploy_test_token(node.rpc_url, FUNDER_KEY, decimals=6)
    mint(node.rpc_url, FUNDER_KEY, tusd, FUNDER, 10**15)
    g = await open_gateway(tmp_path_factory.mktemp("keys"), node.rpc_url, tusd)
    yield g
    await close_gateway(g)


async def test_the_mnemonic_and_keys_never_reach_logs_or_the_database(gw, caplog):
    caplog.set_level(logging.DEBUG)  # everything: HTTP, the sweeper's own logs, and below
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # every SQL statement with its parameters
    native = await gw.paid("ETH", ETH)
    token = await gw.paid("TUSD", 1_500_000)
    tank = gw.rpc.balance(gw.tank)
    gw.rpc.set_balance(gw.tank, 0)
    starved = await gw.paid("TUSD", 2_500_000)
    assert any("gas tank" in e for e in (await gw.sweep_pass()).waiting.values())  # the error path too
    gw.rpc.set_balance(gw.tank, tank)
    await gw.sweep_until_quiet()
    for p in (native, token, starved):
        assert all(s.state == "done" for s in await gw.sweeps_of(p.address))

    keys = [gw.keys.tank_key(gw.chain)] + [gw.keys.deposit_key(p.derivation_index) for p in (native, token, starved)]
    secrets = [k.hex() for k in keys]
    logged = "\n".join(f"{r.name} {r.levelname} {r.getMessage()} {r.args!r}" for r in caplog.records)
    assert any(r.name.startswith("sqlalchemy") for r in caplog.records)  # the net was wide
    assert not leaks(logged), "the mnemonic was logged"
    assert not any(s in logged.lower() for s in secrets), "a private key was logged"

    async with gw.rt.sessions() as s:
        tables = list(await s.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")))
        rows = []
        for table in tables:  # every row of every table, as PostgreSQL prints it
            rows += await s.scalars(text(f'SELECT CAST(t AS text) FROM "{table}" t'))
    dump = "\n".join(rows)
    assert "sweeps" in tables and native.address.lower() in dump.lower()  # the dump does hold the data
    assert not leaks(dump), "the mnemonic is stored"
    assert not any(s in dump.lower() for s in secrets), "a private key is stored"
