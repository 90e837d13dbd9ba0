"""Dashboard users (issue 20, the first slice): made by `ctrip merchant add-user`, one merchant each,
emails unique, passwords only as argon2id hashes; on PostgreSQL and SQLite through the real CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from ctrip_core.db.engine import create_engine, session_factory
from ctrip_core.db.models import DashboardUser
from ctrip_core.services.accounts.users import add_user, check_password, hash_password, normalized_email, users_of
from ctrip_core.services.errors import Conflict, InvalidField, NotFound
from testbed import new_merchant

CTRIP = Path(sys.executable).parent / "ctrip"
PASSWORD = "correct horse battery staple"


def ctrip(args, database_url, cwd, stdin: str | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTRIP_")} | {"CTRIP_DATABASE_URL": database_url}
    return subprocess.run([str(CTRIP), *args], input=stdin, capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=60)


def test_passwords_are_argon2id_and_verify_in_place():
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert check_password(stored, PASSWORD).ok and check_password(stored, PASSWORD).rehashed is None
    assert not check_password(stored, PASSWORD + "!").ok
    assert not check_password("not a hash", PASSWORD).ok  # a mangled row lets nobody in
    assert hash_password(PASSWORD) != stored  # salted


def test_old_parameters_are_rehashed_on_a_good_password():
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    check = check_password(weak, PASSWORD)
    assert check.ok and check.rehashed and check.rehashed.startswith("$argon2id$v=19$m=65536")


@pytest.mark.parametrize("email", ["", "ann", "ann@", "@shop.example", "ann@shop", "a b@shop.example",
                                   "ann@@shop.example", "<ann@shop.example>", "x" * 250 + "@shop.example",
                                   # one address or none in a To: header, never a group or a list
                                   "a:b;@x.example", "():@x.example", "a,b@x.example", '"a b"@x.example',
                                   "a@-x.example", "x" * 65 + "@shop.example"])
def test_an_address_that_is_not_one_is_refused(email):
    with pytest.raises(InvalidField) as refused:
        normalized_email(email)
    assert refused.value.field == "email"


@pytest.mark.parametrize("password", ["short", "x" * 11, "x" * 1025, "twelve chars\x00"])
def test_weak_or_odd_passwords_are_refused(password):
    with pytest.raises(InvalidField) as refused:
        hash_password(password)
    assert refused.value.field == "password"


async def test_users_belong_to_one_merchant_and_emails_are_unique(runtime):
    acme, _ = await new_merchant(runtime, "acme")
    globex, _ = await new_merchant(runtime, "globex")
    async with runtime.sessions() as session, session.begin():
        owner = await add_user(session, acme, f"  Ann@Shop-{acme}.Example ", PASSWORD, role="owner")
    assert owner.email == f"ann@shop-{acme.lower()}.example" and owner.role == "owner" and owner.id.startswith("usr_")
    async with runtime.sessions() as session:
        with pytest.raises(Conflict):  # taken, whichever merchant asks and however it is spelled
            await add_user(session, globex, owner.email.upper(), PASSWORD)
        with pytest.raises(NotFound):
            await add_user(session, "mer_nope", "bob@shop.example", PASSWORD)
        with pytest.raises(InvalidField):
            await add_user(session, acme, "bob@shop.example", PASSWORD, role="admin")
        assert [u.id for u in await users_of(session, acme)] == [owner.id]
        assert await users_of(session, globex) == [] and await users_of(session, "mer_nope") is None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, pg_url):
    url = f"sqlite+aiosqlite:///{tmp_path}/ctrip.db" if request.param == "sqlite" else pg_url
    assert ctrip(["db", "upgrade"], url, tmp_path).returncode == 0
    return url


async def _stored(url: str) -> list[DashboardUser]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            return list(await session.scalars(select(DashboardUser)))
    finally:
        await engine.dispose()


def test_add_user_reads_the_password_from_stdin_and_stores_only_its_hash(database_url, tmp_path):
    ann, bob = f"ann-{tmp_path.name}@shop.example", f"bob-{tmp_path.name}@shop.example"  # the session's database is shared
    made = ctrip(["merchant", "create", "acme", "--json"], database_url, tmp_path)
    merchant_id = __import__("json").loads(made.stdout)["merchant_id"]
    added = ctrip(["merchant", "add-user", merchant_id, ann, "--role", "owner"], database_url,
                  tmp_path, stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert ann in added.stdout and "owner" in added.stdout and PASSWORD not in added.stdout + added.stderr
    [user] = [u for u in asyncio.run(_stored(database_url)) if u.merchant_id == merchant_id]
    assert check_password(user.password_hash, PASSWORD).ok  # the newline `echo` adds is not part of it
    listed = ctrip(["merchant", "users", merchant_id], database_url, tmp_path)
    assert listed.returncode == 0 and user.id in listed.stdout

    again = ctrip(["merchant", "add-user", merchant_id, ann.upper()], database_url, tmp_path, stdin=PASSWORD)
    short = ctrip(["merchant", "add-user", merchant_id, bob], database_url, tmp_path, stdin="short")
    nobody = ctrip(["merchant", "add-user", "mer_nope", bob], database_url, tmp_path, stdin=PASSWORD)
    role = ctrip(["merchant", "add-user", merchant_id, bob, "--role", "admin"], database_url,
                 tmp_path, stdin=PASSWORD)
    for refused, says in ((again, "exists already"), (short, "at least 12"), (nobody, "no merchant"),
                          (role, "admin")):
        assert refused.returncode != 0 and says in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr and refused.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert len([u for u in asyncio.run(_stored(database_url)) if u.merchant_id == merchant_id]) == 1


def test_add_user_with_link_prints_a_one_time_link_that_sets_the_password(database_url, tmp_path):
    from datetime import timedelta

    from ctrip_core.db.types import utcnow
    from ctrip_core.services.dashboard import invitations

    cleo = f"cleo-{tmp_path.name}@shop.example"
    made = ctrip(["merchant", "create", "acme", "--json"], database_url, tmp_path)
    merchant_id = __import__("json").loads(made.stdout)["merchant_id"]
    added = ctrip(["merchant", "add-user", merchant_id, cleo, "--link"], database_url, tmp_path, stdin="")
    assert added.returncode == 0, added.stderr
    path = added.stdout.split()[-1]
    assert path.startswith(invitations.PATH)
    [user] = [u for u in asyncio.run(_stored(database_url)) if u.email == cleo]
    assert not check_password(user.password_hash, PASSWORD).ok and user.setup_token_hash not in added.stdout

    async def use(token: str, at):
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session, session.begin():
                return await invitations.set_password(session, token, PASSWORD, at)
        finally:
            await engine.dispose()

    token = path.removeprefix(invitations.PATH)
    with pytest.raises(NotFound):  # past its 3 days
        asyncio.run(use(token, utcnow() + invitations.VALID + timedelta(seconds=1)))
    asyncio.run(use(token, utcnow()))
    [user] = [u for u in asyncio.run(_stored(database_url)) if u.email == cleo]
    assert check_password(user.password_hash, PASSWORD).ok and user.setup_token_hash is None
    with pytest.raises(NotFound):  # used up
        asyncio.run(use(token, utcnow()))
