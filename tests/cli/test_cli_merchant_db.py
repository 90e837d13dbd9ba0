"""`ctrip db` and `ctrip merchant` as a user runs them, on SQLite and on PostgreSQL."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from testbed import REDIS_URL
from sqlalchemy import text

from ctrip_core.db.engine import create_engine
from ctrip_core.devnet.anvil import free_port
from ctrip_core.services.accounts.api_keys import REVOCATION_MARK_KEY, hash_api_key

CTRIP = Path(sys.executable).parent / "ctrip"


def run(args, database_url, cwd, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTRIP_")}
    env.update({"CTRIP_DATABASE_URL": database_url, **extra})
    return subprocess.run([str(CTRIP), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


async def dump_all_text(url: str) -> str:
    """Every value of every table as one string: where a leaked key would show up."""
    engine = create_engine(url)
    chunks = []
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: __import__("sqlalchemy").inspect(c).get_table_names())
            for table in tables:
                rows = (await conn.execute(text(f'SELECT * FROM "{table}"'))).all()
                chunks += [repr(tuple(r)) for r in rows]
    finally:
        await engine.dispose()
    return "\n".join(chunks)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, pg_url):
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/ctrip.db"
    return pg_url


def test_upgrade_create_merchant_and_no_copy_of_the_key(database_url, tmp_path):
    up = run(["db", "upgrade"], database_url, tmp_path)
    assert up.returncode == 0, up.stderr
    created = run(["merchant", "create", "acme", "--json"], database_url, tmp_path)
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert set(body) == {"merchant_id", "key_id", "api_key"} and body["merchant_id"].startswith("mer_")
    assert body["key_id"].startswith("key_")
    stored = asyncio.run(dump_all_text(database_url))
    assert body["api_key"] not in stored
    assert hash_api_key(body["api_key"]) in stored
    assert body["merchant_id"] in stored


def test_merchant_create_on_an_unmigrated_database_fails_with_one_line(tmp_path):
    result = run(["merchant", "create", "acme"], f"sqlite+aiosqlite:///{tmp_path}/empty.db", tmp_path)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "ctrip db upgrade" in result.stderr


def test_downgrade_to_base_and_back(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    assert run(["db", "upgrade"], url, tmp_path).returncode == 0
    down = run(["db", "downgrade", "base"], url, tmp_path)
    assert down.returncode == 0 and "base" in down.stdout
    assert run(["db", "current"], url, tmp_path).stdout.strip() == "base"
    assert run(["db", "upgrade"], url, tmp_path).returncode == 0
    assert run(["db", "current"], url, tmp_path).stdout.strip() != "base"


def _revocation_mark() -> bytes | None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return client.get(REVOCATION_MARK_KEY)
    finally:
        client.close()


def test_revoke_key(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    run(["db", "upgrade"], url, tmp_path)
    created = run(["merchant", "create", "acme"], url, tmp_path)
    key_id = asyncio.run(dump_all_text(url)).split("'key_")[1].split("'")[0]
    mark_before = _revocation_mark()
    revoked = run(["merchant", "revoke-key", f"key_{key_id}"], url, tmp_path, CTRIP_REDIS_URL=REDIS_URL)
    assert revoked.returncode == 0 and revoked.stderr == ""
    # API processes stop trusting the keys they cached (api/key_cache.py)
    assert _revocation_mark() not in (None, mark_before)
    again = run(["merchant", "revoke-key", f"key_{key_id}"], url, tmp_path)
    assert again.returncode == 1 and "no active API key" in again.stderr
    assert created.returncode == 0


def test_revoke_key_with_redis_unreachable_still_revokes_and_says_what_that_means(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    run(["db", "upgrade"], url, tmp_path)
    run(["merchant", "create", "acme"], url, tmp_path)
    key_id = asyncio.run(dump_all_text(url)).split("'key_")[1].split("'")[0]
    revoked = run(["merchant", "revoke-key", f"key_{key_id}"], url, tmp_path,
                  CTRIP_REDIS_URL=f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    assert revoked.returncode == 0 and f"revoked key_{key_id}" in revoked.stdout
    assert "may accept this key for up to api.key_cache_s = 60 s" in revoked.stderr
    assert "hunter2" not in revoked.stderr + revoked.stdout
    again = run(["merchant", "revoke-key", f"key_{key_id}"], url, tmp_path)
    assert again.returncode == 1 and "no active API key" in again.stderr


def test_list_keys_add_key_and_revoke_by_the_key_itself_never_echo_a_key(database_url, tmp_path):
    assert run(["db", "upgrade"], database_url, tmp_path).returncode == 0
    acme = json.loads(run(["merchant", "create", "Acme", "--json"], database_url, tmp_path).stdout)
    bravo = json.loads(run(["merchant", "create", "Bravo", "--json"], database_url, tmp_path).stdout)
    added = run(["merchant", "add-key", acme["merchant_id"], "--json"], database_url, tmp_path)
    assert added.returncode == 0, added.stderr
    second = json.loads(added.stdout)
    assert second["merchant_id"] == acme["merchant_id"] and second["key_id"] != acme["key_id"]

    listed = json.loads(run(["merchant", "list", "--json"], database_url, tmp_path).stdout)
    ours = [(m["name"], m["active_keys"]) for m in listed if m["merchant_id"] in (acme["merchant_id"],
                                                                                 bravo["merchant_id"])]
    assert ours == [("Acme", 2), ("Bravo", 1)]  # oldest first
    text_list = run(["merchant", "list"], database_url, tmp_path).stdout
    assert acme["merchant_id"] in text_list and "keys=2" in text_list

    revoked = run(["merchant", "revoke-key", acme["api_key"]], database_url, tmp_path, CTRIP_REDIS_URL=REDIS_URL)
    assert revoked.returncode == 0, revoked.stderr
    assert f"revoked {acme['key_id']}" in revoked.stdout and acme["api_key"] not in revoked.stdout + revoked.stderr
    again = run(["merchant", "revoke-key", acme["api_key"]], database_url, tmp_path)
    assert again.returncode == 1 and "no active API key that key" in again.stderr
    assert acme["api_key"] not in again.stdout + again.stderr

    keys = json.loads(run(["merchant", "keys", acme["merchant_id"], "--json"], database_url, tmp_path).stdout)
    assert [(k["key_id"], k["revoked_at"] is not None) for k in keys] == [(acme["key_id"], True),
                                                                          (second["key_id"], False)]
    assert all(k["prefix"].startswith("ctrip_sk_") and len(k["prefix"]) < 20 for k in keys)
    shown = run(["merchant", "keys", acme["merchant_id"]], database_url, tmp_path).stdout
    assert "active" in shown and "revoked" in shown and second["api_key"] not in shown


def test_add_key_with_scopes_and_an_unknown_scope_is_a_usage_error(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    run(["db", "upgrade"], url, tmp_path)
    acme = json.loads(run(["merchant", "create", "Acme", "--json"], url, tmp_path).stdout)
    added = run(["merchant", "add-key", acme["merchant_id"], "--scope", "read", "--scope", "refunds,payouts"],
                url, tmp_path)
    assert added.returncode == 0, added.stderr
    keys = json.loads(run(["merchant", "keys", acme["merchant_id"], "--json"], url, tmp_path).stdout)
    assert [k["scopes"] for k in keys] == [["payments", "read"], ["payouts", "read", "refunds"]]
    bad = run(["merchant", "add-key", acme["merchant_id"], "--scope", "admin"], url, tmp_path)
    assert bad.returncode == 2 and "unknown scope 'admin'" in bad.stderr and "Traceback" not in bad.stderr
    assert len(json.loads(run(["merchant", "keys", acme["merchant_id"], "--json"], url, tmp_path).stdout)) == 2


def test_keys_and_add_key_of_an_unknown_merchant_are_one_line_errors(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    run(["db", "upgrade"], url, tmp_path)
    for command in (["merchant", "keys", "mer_nope"], ["merchant", "add-key", "mer_nope"]):
        result = run(command, url, tmp_path)
        assert result.returncode == 1 and result.stderr.strip() == "Error: no merchant mer_nope", result.stderr


def test_every_command_is_listed_in_its_groups_help(tmp_path):
    import click

    from ctrip_core.cli import cli

    for name, group in cli.commands.items():
        if not isinstance(group, click.Group):
            continue
        shown = run([name, "--help"], "sqlite+aiosqlite:///unused.db", tmp_path).stdout
        for command in group.commands:
            assert f"  {command} " in shown or f"  {command}\n" in shown, (name, command, shown)
