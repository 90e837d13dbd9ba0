"""scripts/backup.sh and scripts/restore.sh on real PostgreSQL: a migrated database with a merchant is
dumped, restored into a new database, and the merchant and the migration head are there."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest

from compose_stack import ROOT
from ctrip_core.db import migrate
from subprocesses import CTRIP, dev_env
from testbed import create_database, drop_database

pytestmark = pytest.mark.timeout(120)
BACKUP, RESTORE = ROOT / "scripts" / "backup.sh", ROOT / "scripts" / "restore.sh"


@pytest.fixture
def scratch_databases():
    """`make()` → the asyncpg URL of a new, empty database on the session's server; dropped at the end."""
    made = []

    def make() -> str:
        made.append(create_database(migrated=False))
        return made[-1]

    yield make
    for url in made:
        drop_database(url)


def run(args: list[str], database_url: str, cwd) -> subprocess.CompletedProcess:
    env = dev_env() | {"CTRIP_ENV": "testing", "CTRIP_DATABASE_URL": database_url}
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=90)


def test_backup_then_restore_into_a_new_database(scratch_databases, tmp_path):
    source, target = scratch_databases(), scratch_databases()
    upgraded = run([CTRIP, "db", "upgrade"], source, tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    created = run([CTRIP, "merchant", "create", "Backup Corp", "--json"], source, tmp_path)
    assert created.returncode == 0, created.stderr
    merchant_id = json.loads(created.stdout)["merchant_id"]

    dump = tmp_path / "ctrip.dump"
    backed_up = run(["bash", str(BACKUP), str(dump)], source, tmp_path)
    assert backed_up.returncode == 0, backed_up.stderr
    assert "mnemonic and secret_key are not in it" in backed_up.stderr
    assert stat.S_IMODE(os.stat(dump).st_mode) == 0o600 and not (tmp_path / "ctrip.dump.partial").exists()

    restored = run(["bash", str(RESTORE), str(dump)], target, tmp_path)
    assert restored.returncode == 0, restored.stderr

    assert migrate.current(target) == migrate.head()
    at = run([CTRIP, "db", "current"], target, tmp_path)
    assert at.stdout.strip() == migrate.head(), at.stderr
    listed = run([CTRIP, "merchant", "list", "--json"], target, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert merchant_id in listed.stdout and "Backup Corp" in listed.stdout


def test_restore_refuses_a_database_that_has_tables(scratch_databases, tmp_path):
    source = scratch_databases()
    assert run([CTRIP, "db", "upgrade"], source, tmp_path).returncode == 0
    dump = tmp_path / "ctrip.dump"
    assert run(["bash", str(BACKUP), str(dump)], source, tmp_path).returncode == 0
    refused = run(["bash", str(RESTORE), str(dump)], source, tmp_path)
    assert refused.returncode == 2 and "restore into a new, empty database" in refused.stderr, refused.stderr


def test_bad_usage_is_one_line_exit_2(tmp_path):
    for script, args, env_url, named in ((BACKUP, [], "", "CTRIP_DATABASE_URL"),
                                         (BACKUP, [], "sqlite+aiosqlite:///x.db", "not a PostgreSQL URL"),
                                         (RESTORE, [], "postgresql://x", "usage"),
                                         (RESTORE, [str(tmp_path / "missing.dump")], "postgresql://x", "does not exist")):
        result = run(["bash", str(script), *args], env_url, tmp_path)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and named in result.stderr, (script, result.stderr)
