"""What the tests run against, importable by any test module (tests/ is on sys.path: pytest's prepend
import mode puts the rootdir conftest's directory there): the services' addresses, test settings,
scratch databases, merchants and the funded test token.

tests/conftest.py makes fixtures of these; a module that needs one outside a fixture (a database of
its own, settings with other chains) imports it from here, never from conftest.
"""

from __future__ import annotations

import os
from pathlib import Path

from ctrip_core.devnet import scratch_database
from ctrip_core.devnet.accounts import FUNDER, FUNDER_KEY, GATEWAY_XPUB
from metrics_scrape import METRICS_PORT

#: The PostgreSQL server's admin database (libpq URL); scratch databases are made on that server.
PG_ADMIN_DSN = os.environ.get("CTRIP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
#: The Redis database of this run (parallel runs each take their own: Dramatiq queues live there).
REDIS_URL = os.environ.get("CTRIP_TEST_REDIS", "redis://127.0.0.1:6379/0")
TEST_SECRET_KEY = "test-secret-key-for-webhook-secrets"


def make_settings(database_url: str, chains_file: Path, **overrides):
    """Settings of the `testing` environment on `database_url` and `chains_file`, this run's Redis and
    the gateway's test wallet; `overrides` as `load_settings` takes them."""
    from ctrip_core.config import load_settings

    values = {"database_url": database_url, "chains_file": str(chains_file), "redis_url": REDIS_URL,
              "secret_key": TEST_SECRET_KEY, "wallet": {"xpub": GATEWAY_XPUB},
              # Every test client is the same address: the checkout's per-client limit is tested on its own.
              "api": {"checkout_rate_limit_per_s": 10_000, "checkout_rate_limit_burst": 10_000},
              "metrics": {"port": METRICS_PORT}}  # scraped with tests/metrics_scrape.py
    return load_settings("testing", **(values | overrides))


def create_database(*, migrated: bool = True) -> str:
    """A new PostgreSQL database (asyncpg URL), migrated unless told; callers drop it with `drop_database`."""
    return scratch_database.create_database(PG_ADMIN_DSN, migrated=migrated)


def drop_database(url: str) -> None:
    scratch_database.drop_database(PG_ADMIN_DSN, url)


async def new_merchant(runtime, name: str = "acme", scopes=None) -> tuple[str, str]:
    """→ (merchant_id, api_key) of a fresh merchant (its key of `scopes`, read and payments by default)."""
    from ctrip_core.services.accounts.merchants import create_merchant

    async with runtime.sessions() as session, session.begin():
        created = await create_merchant(session, name, scopes)
    return created.merchant_id, created.api_key


async def key_headers(runtime, merchant_id: str, scopes: list[str]) -> dict[str, str]:
    """The Authorization header of a new API key of `merchant_id` with `scopes`."""
    from ctrip_core.services.accounts.merchants import add_api_key

    async with runtime.sessions() as session, session.begin():
        _, key = await add_api_key(session, merchant_id, scopes)
    return {"Authorization": f"Bearer {key}"}


def deploy_funded_token(rpc_url: str) -> str:
    """Deploy the test ERC-20 (6 decimals) and mint FUNDER 10^9 TUSD to pay test payments with."""
    from ctrip_core.devnet.token import deploy_test_token, mint

    address = deploy_test_token(rpc_url, FUNDER_KEY, decimals=6)
    mint(rpc_url, FUNDER_KEY, address, FUNDER, 10**15)
    return address
