"""What devnet offers the tests and the benches, on the real services: the chains.yaml writer (what it
writes is what config/chains_file.py reads), scratch PostgreSQL databases, and the Payer."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from eth_account import Account

from ctrip_core.config.chains_file import load_chains
from ctrip_core.devnet.accounts import FUNDER_KEY, TREASURY
from ctrip_core.devnet.chains_yaml import anvil_chain, write_anvil_chains_file, write_chains_file
from ctrip_core.devnet.payer import Payer
from ctrip_core.devnet.scratch_database import create_database, drop_database
from ctrip_core.devnet.token import balance_of
from testbed import PG_ADMIN_DSN

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_an_anvil_chains_file_reads_back_as_written(tmp_path):
    path = write_anvil_chains_file(tmp_path / "chains.yaml", "http://127.0.0.1:8545", TOKEN, confirmations=3,
                                   ws_url="ws://127.0.0.1:8545", traces=None, comment="made by a test")
    assert path.read_text().startswith("# made by a test\n")
    (name, chain), = load_chains(path).items()
    assert (name, chain.adapter, chain.chain_id, chain.confirmations, chain.treasury) == \
        ("anvil", "anvil", 31337, 3, TREASURY)
    assert [(t.symbol, t.address, t.decimals) for t in chain.tokens] == [("TUSD", TOKEN, 6)]
    assert chain.native.symbol == "ETH" and chain.ws_url == "ws://127.0.0.1:8545"


def test_two_chains_without_token_or_treasury(tmp_path):
    path = write_chains_file(tmp_path / "chains.yaml", {
        "a": anvil_chain(["http://127.0.0.1:1", "http://127.0.0.1:2"], treasury=None),
        "b": anvil_chain("http://127.0.0.1:3", adapter="ethereum", chain_id=1)})
    chains = load_chains(path)
    assert chains["a"].tokens == [] and chains["a"].treasury is None and len(chains["a"].rpc_urls) == 2
    assert (chains["b"].adapter, chains["b"].chain_id) == ("ethereum", 1)


def _exists(name: str) -> bool:
    async def ask() -> bool:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
        finally:
            await conn.close()

    return asyncio.run(ask())


def test_a_scratch_database_is_created_empty_and_dropped():
    url = create_database(PG_ADMIN_DSN, prefix="ctrip_scratch", migrated=False)
    name = url.rsplit("/", 1)[1]
    assert url.startswith("postgresql+asyncpg://") and name.startswith("ctrip_scratch_") and _exists(name)
    drop_database(PG_ADMIN_DSN, url)
    assert not _exists(name)


async def test_a_scratch_database_inside_an_event_loop_is_migrated():
    url = create_database(PG_ADMIN_DSN)  # the admin statement runs on a thread of its own
    try:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            assert await conn.fetchval("SELECT count(*) FROM alembic_version") == 1
        finally:
            await conn.close()
    finally:
        drop_database(PG_ADMIN_DSN, url)


def test_a_payer_pays_native_and_token_and_asks_the_node_for_its_nonce(anvil, token):
    payer, to = Payer(FUNDER_KEY, anvil.rpc_url), Account.create().address
    receipts = payer.wait([payer.native(to, 10**15), payer.token(token, to, 1_000)])
    assert len(receipts) == 2 and all(int(r["status"], 16) == 1 for r in receipts)
    assert int(anvil.rpc("eth_getBalance", to, "latest"), 16) == 10**15 and balance_of(anvil.rpc_url, token, to) == 1_000
    sent_elsewhere = Payer(FUNDER_KEY, anvil.rpc_url).native(to, 1)  # another payer of the same key
    assert payer.wait([payer.native(to, 1)]) and payer.wait([sent_elsewhere])  # no nonce taken twice


def test_a_payer_that_reverts_fails_its_wait(anvil, token):
    payer = Payer(FUNDER_KEY, anvil.rpc_url)
    too_much = payer.token(token, Account.create().address, 10**30)  # more than FUNDER holds
    with pytest.raises(AssertionError, match="reverted"):
        payer.wait([too_much])
