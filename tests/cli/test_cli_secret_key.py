"""`ctrip secret-key rotate` and `generate` as an operator runs them (issue 15: rotating the key that
encrypts webhook secrets at rest), on SQLite and on a PostgreSQL database of the test's own."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess

import pytest
from sqlalchemy import select

from ctrip_core.db.engine import create_engine, session_factory
from ctrip_core.db.models import DashboardUser, IdempotencyKey, WebhookEndpoint
from ctrip_core.services.webhooks.secret_box import SecretBox
from ctrip_core.services.idempotency_keys import SEALED
from ctrip_core.services.accounts.merchants import create_merchant
from ctrip_core.services.accounts.users import add_user
from ctrip_core.services.dashboard import totp
from ctrip_core.services.webhooks.endpoints import create_endpoint, rotate_secret
from subprocesses import CTRIP

OLD = "old-key-0123456789-abcdefghijklmnopqrstuvwxyz"
NEW = "new-key-9876543210-ZYXWVUTSRQPONMLKJIHGFEDCBA"
STRAY = "a-key-nobody-configured-0123456789-abcdefghij"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("scratch_pg_url")
    url = f"sqlite+aiosqlite:///{tmp_path}/ctrip.db"
    subprocess.run([CTRIP, "db", "upgrade"], env=_env(url), cwd=tmp_path, check=True, capture_output=True,
                   timeout=60)
    return url


def _env(url: str, **keys: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTRIP_")}
    return env | {"CTRIP_ENV": "testing", "CTRIP_DATABASE_URL": url} | keys


def _rotate(url: str, cwd, **keys: str) -> subprocess.CompletedProcess:
    return subprocess.run([CTRIP, "secret-key", "rotate", "--json"], env=_env(url, **keys), cwd=cwd,
                          capture_output=True, text=True, timeout=60)


async def _seed(url: str) -> dict:
    """Under OLD: an endpoint in its own secret-rotation window (two secrets), a sealed replay and a
    dashboard user's TOTP secret."""
    box = SecretBox(OLD)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            merchant_id = (await create_merchant(session, "acme")).merchant_id
            endpoint, first = await create_endpoint(session, box, merchant_id, "https://example.com/hook", None)
            _, second = await rotate_secret(session, box, merchant_id, endpoint.id)
            session.add(IdempotencyKey(merchant_id=merchant_id, key="k1", request_hash="0" * 64,
                                       response_status=201, response_body=SEALED + box.seal('{"secret": "s"}')))
            user = await add_user(session, merchant_id, "ann@shop.example", "correct horse battery staple", "owner")
            totp_secret = totp.start(user, box)
            return {"endpoint": endpoint.id, "secrets": [second, first], "merchant": merchant_id,
                    "totp": totp_secret}
    finally:
        await engine.dispose()


async def _stored(url: str, endpoint_id: str) -> tuple[list[str], str]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            endpoint = await session.get(WebhookEndpoint, endpoint_id)
            replay = (await session.scalars(select(IdempotencyKey.response_body))).one()
            totp_secret = (await session.scalars(select(DashboardUser.totp_secret_ciphertext))).one()
            return [endpoint.secret_ciphertext, endpoint.previous_secret_ciphertext, totp_secret], replay
    finally:
        await engine.dispose()


def _opens(key: str, ciphertext: str) -> str | None:
    try:
        return SecretBox(key).open(ciphertext)
    except ValueError:
        return None


def test_rotate_reseals_every_stored_secret_with_the_new_key(database_url, tmp_path):
    seeded = asyncio.run(_seed(database_url))
    result = _rotate(database_url, tmp_path, CTRIP_SECRET_KEY=NEW, CTRIP_SECRET_KEY_PREVIOUS=OLD)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"endpoint_secrets": 2, "sealed_replays": 1, "totp_secrets": 1,
                                         "unreadable": 0}
    secrets, replay = asyncio.run(_stored(database_url, seeded["endpoint"]))
    # The new key alone opens everything, to the same plaintexts; the old key opens nothing.
    assert [_opens(NEW, c) for c in secrets] == [*seeded["secrets"], seeded["totp"]]
    assert _opens(NEW, replay.removeprefix(SEALED)) == '{"secret": "s"}' and replay.startswith(SEALED)
    assert all(_opens(OLD, c) is None for c in [*secrets, replay.removeprefix(SEALED)])
    # Again: nothing changes in meaning, nothing is unreadable.
    again = _rotate(database_url, tmp_path, CTRIP_SECRET_KEY=NEW)
    assert again.returncode == 0 and json.loads(again.stdout)["unreadable"] == 0, again.stderr
    assert [_opens(NEW, c) for c in asyncio.run(_stored(database_url, seeded["endpoint"]))[0]] == \
        [*seeded["secrets"], seeded["totp"]]


def test_secrets_no_key_opens_are_left_alone_and_the_exit_is_1(database_url, tmp_path):
    seeded = asyncio.run(_seed(database_url))
    before = asyncio.run(_stored(database_url, seeded["endpoint"]))
    result = _rotate(database_url, tmp_path, CTRIP_SECRET_KEY=NEW, CTRIP_SECRET_KEY_PREVIOUS=STRAY)
    assert result.returncode == 1
    assert json.loads(result.stdout)["unreadable"] == 4
    [line] = result.stderr.splitlines()
    assert line.startswith("ctrip: error: 4 stored secrets open with neither") and "Traceback" not in result.stderr
    assert NEW not in result.stderr + result.stdout and STRAY not in result.stderr + result.stdout
    assert asyncio.run(_stored(database_url, seeded["endpoint"])) == before  # never overwritten


def test_rotate_without_secret_key_is_a_configuration_error(tmp_path):
    result = _rotate(f"sqlite+aiosqlite:///{tmp_path}/x.db", tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("ctrip: configuration error: secret_key")


def test_generate_prints_a_key_the_settings_accept(tmp_path):
    from ctrip_core.config import load_settings

    out = subprocess.run([CTRIP, "secret-key", "generate"], env=_env("sqlite+aiosqlite:///x.db"), cwd=tmp_path,
                         capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    assert load_settings("testing", secret_key=out).secret_key.get_secret_value() == out
    assert out != subprocess.run([CTRIP, "secret-key", "generate"], env=_env("sqlite+aiosqlite:///x.db"),
                                 cwd=tmp_path, capture_output=True, text=True, timeout=30).stdout.strip()


def test_the_previous_key_opens_what_it_sealed_and_the_current_key_seals():
    old_sealed = SecretBox(OLD).seal("whsec_x")
    box = SecretBox(NEW, previous=OLD)
    assert box.open(old_sealed) == "whsec_x"
    assert _opens(NEW, box.seal("whsec_y")) == "whsec_y" and _opens(OLD, box.seal("whsec_y")) is None
