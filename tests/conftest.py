"""Shared fixtures: a real Anvil node, a real PostgreSQL database and Redis, per test session.

Nothing here mocks the chain or the services: tests that need them fail loudly when they are down.
Only fixtures live here; what they are made of (settings, scratch databases, merchants, the
funded token) is tests/testbed.py, which test modules import themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio

from ctrip_core.devnet.accounts import ANVIL_MNEMONIC
from ctrip_core.devnet.anvil import AnvilNode
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from testbed import REDIS_URL, create_database, deploy_funded_token, drop_database, make_settings, new_merchant


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
    url = create_database(migrated=False)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_URL


# --- a gateway over real services ---------------------------------------------------------------

@pytest.fixture(scope="session")
def token(anvil) -> str:
    """The test ERC-20 (6 decimals) deployed once on the session's Anvil."""
    return deploy_funded_token(anvil.rpc_url)


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


@pytest.fixture(scope="session")
def chains_file(tmp_path_factory, anvil, token) -> Path:
    return write_anvil_chains_file(tmp_path_factory.mktemp("chains") / "chains.yaml", anvil.rpc_url, token)


@pytest.fixture(scope="session")
def migrated_pg_url(pg_url) -> str:
    from ctrip_core.db import migrate

    migrate.upgrade(pg_url)
    return pg_url


@pytest.fixture(scope="session")
def settings_with(migrated_pg_url, chains_file):
    """`settings_with(**overrides)`: test settings on the session's database and chains, overridden
    (`database_url=`, `chains_file=` included)."""
    def settings(database_url: str = migrated_pg_url, chains_file: Path = chains_file, **overrides):
        return make_settings(database_url, Path(chains_file), **overrides)

    return settings


@pytest.fixture(scope="module")
def module_database() -> str:
    """A fresh, migrated PostgreSQL database of the test module's own (asyncpg URL), dropped after it."""
    url = create_database()
    yield url
    drop_database(url)


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


@pytest_asyncio.fixture
async def merchant(runtime):
    merchant_id, api_key = await new_merchant(runtime)
    return {"id": merchant_id, "key": api_key, "headers": {"Authorization": f"Bearer {api_key}"}}


@pytest_asyncio.fixture
async def other_merchant(runtime):
    merchant_id, api_key = await new_merchant(runtime, "globex")
    return {"id": merchant_id, "key": api_key, "headers": {"Authorization": f"Bearer {api_key}"}}


@pytest.fixture
def scratch_pg_url():
    """A migrated PostgreSQL database of this test alone (for work that touches every row)."""
    url = create_database()
    yield url
    drop_database(url)


@pytest.fixture
def empty_pg_url():
    """An empty (unmigrated) PostgreSQL database of this test alone."""
    url = create_database(migrated=False)
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium for the test module (tests/browser_harness.py), quit at its end."""
    import browser_harness

    with browser_harness.chromium_session(tmp_path_factory) as driver:
        yield driver
