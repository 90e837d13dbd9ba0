"""Shared fixtures: a real Anvil node, a real PostgreSQL database and Redis, per test session.

Nothing here mocks the chain or the services: tests that need them fail loudly when they are down.
"""

from __future__ import annotations

import os
import uuid

import pytest

from ctrip_core.devnet.accounts import ANVIL_MNEMONIC, ANVIL_XPUB, FUNDER, FUNDER_KEY  # noqa: F401
from ctrip_core.devnet.anvil import AnvilNode

PG_ADMIN_DSN = os.environ.get("CTRIP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CTRIP_TEST_REDIS", "redis://127.0.0.1:6379/0")

@pytest.fixture(scope="session")
def anvil():
    """One Anvil node for the whole session, on a free port."""
    node = AnvilNode.start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def anvil_mnemonic() -> str:
    return ANVIL_MNEMONIC



@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database for this session (asyncpg URL); dropped at the end."""
    import asyncio

    import asyncpg

    name = f"ctrip_test_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_URL


# --- a gateway over real services ---------------------------------------------------------------

from pathlib import Path  # noqa: E402

import pytest_asyncio  # noqa: E402

from ctrip_core.devnet.accounts import GATEWAY_XPUB  # noqa: E402

TEST_SECRET_KEY = "test-secret-key-for-webhook-secrets"


@pytest.fixture(scope="session")
def token(anvil) -> str:
    """The test ERC-20 (6 decimals) deployed once on the session's Anvil."""
    return deploy_funded_token(anvil.rpc_url)


def deploy_funded_token(rpc_url: str) -> str:
    """Deploy the test ERC-20 (6 decimals) and mint FUNDER 10^9 TUSD to pay test payments with."""
    from ctrip_core.devnet.token import deploy_test_token, mint

    address = deploy_test_token(rpc_url, FUNDER_KEY, decimals=6)
    mint(rpc_url, FUNDER_KEY, address, FUNDER, 10**15)
    return address


@pytest.fixture(scope="module")
def node():
    """An Anvil of the test module's own, for modules that mine, revert or reorg freely."""
    n = AnvilNode.start()
    yield n
    n.stop()


@pytest.fixture(scope="module")
def tusd(node) -> str:
    """The test ERC-20 on the module's own `node`, FUNDER funded."""
    return deploy_funded_token(node.rpc_url)


def write_chains_file(path: Path, rpc_url: str, token_address: str, *, confirmations: int | str = 1,
                      chain_id: int = 31337, block_time_s: float = 1, ws_url: str | None = None,
                      traces: str | None = None) -> Path:
    path.write_text(f"""
anvil:
  adapter: anvil
  chain_id: {chain_id}
  rpc_url: {rpc_url}
  {f"ws_url: {ws_url}" if ws_url else ""}
  {f"traces: {traces}" if traces else ""}
  confirmations: {confirmations}
  block_time_s: {block_time_s}
  native: {{symbol: ETH, decimals: 18}}
  tokens:
    - {{symbol: TUSD, address: "{token_address}", decimals: 6}}
  treasury: "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"
""")
    return path


@pytest.fixture(scope="session")
def chains_file(tmp_path_factory, anvil, token) -> Path:
    return write_chains_file(tmp_path_factory.mktemp("chains") / "chains.yaml", anvil.rpc_url, token)


@pytest.fixture(scope="session")
def migrated_pg_url(pg_url) -> str:
    from ctrip_core.db import migrate

    migrate.upgrade(pg_url)
    return pg_url


def make_settings(database_url: str, chains_file: Path, **overrides):
    from ctrip_core.config import load_settings

    values = {"database_url": database_url, "chains_file": str(chains_file), "redis_url": REDIS_URL,
              "secret_key": TEST_SECRET_KEY, "wallet": {"xpub": GATEWAY_XPUB},
              # Every test client is the same address: the checkout's per-client limit is tested on its own.
              "api": {"checkout_rate_limit_per_s": 10_000, "checkout_rate_limit_burst": 10_000}}
    return load_settings("testing", **(values | overrides))


@pytest_asyncio.fixture(scope="session")
async def runtime(migrated_pg_url, chains_file):
    """A runtime (plugins, chains, deriver, database) on the session's PostgreSQL and Anvil."""
    from ctrip_core.runtime import build_runtime

    rt = build_runtime(make_settings(migrated_pg_url, chains_file), "api")
    yield rt
    await rt.close()


@pytest.fixture(scope="session")
def app(runtime):
    from ctrip_core.api import create_app

    return create_app(runtime)


@pytest.fixture
def client(app):
    return app.test_client()


async def new_merchant(runtime, name: str = "acme") -> tuple[str, str]:
    """→ (merchant_id, api_key) of a fresh merchant."""
    from ctrip_core.services.merchants import create_merchant

    async with runtime.sessions() as session, session.begin():
        created = await create_merchant(session, name)
    return created.merchant_id, created.api_key


@pytest_asyncio.fixture
async def merchant(runtime):
    merchant_id, api_key = await new_merchant(runtime)
    return {"id": merchant_id, "key": api_key, "headers": {"Authorization": f"Bearer {api_key}"}}


@pytest_asyncio.fixture
async def other_merchant(runtime):
    merchant_id, api_key = await new_merchant(runtime, "globex")
    return {"id": merchant_id, "key": api_key, "headers": {"Authorization": f"Bearer {api_key}"}}


def create_database() -> str:
    """A new, migrated PostgreSQL database (asyncpg URL); callers drop it with `drop_database`."""
    import asyncio

    import asyncpg

    from ctrip_core.db import migrate

    name = f"ctrip_test_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create()) if not _loop_running() else _run_in_thread(create)
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    migrate.upgrade(url)
    return url


@pytest.fixture
def scratch_pg_url():
    """A migrated PostgreSQL database of this test alone (for work that touches every row)."""
    url = create_database()
    yield url
    drop_database(url)


def drop_database(url: str) -> None:
    import asyncio

    import asyncpg

    name = url.rsplit("/", 1)[1]

    async def drop() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop()) if not _loop_running() else _run_in_thread(drop)


def _loop_running() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


def _run_in_thread(coro_fn) -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(coro_fn())).result()
