"""`ctrip merchant create|list|keys|add-key|revoke-key|set-treasury|add-user|users`: merchants, their API
keys, treasuries and dashboard users.

`--scope` on create and add-key says what the new key may do (read and payments by default).

A key is printed once, when it is made, with its id; after that only its id and display prefix
are ever shown. `revoke-key` takes the id, or the key itself passed by mistake (never echoed back).

`set-treasury` needs the mnemonic: it signs the treasury with the wallet's authorization key, so
that neither the API host nor a database write can choose where a merchant's deposits are swept
(services/accounts/treasuries.py, docs/sweeping.md).

`add-user` reads the password from stdin when stdin is not a terminal (`printf %s "$PW" | ctrip
merchant add-user ...`), else prompts for it twice without echo; it is never an argument (which
`ps` and shell history would show) and only its argon2id hash is stored (services/accounts/users.py).
"""

from __future__ import annotations

import asyncio
import json

import click
from sqlalchemy.exc import IntegrityError

from ctrip_core.chains.types import address_given
from ctrip_core.cli.context import in_session, settings_for
from ctrip_core.config import ConfigError
from ctrip_core.config.chains_file import load_chains
from ctrip_core.db.types import utcnow
from ctrip_core.services.accounts.api_keys import announce_revocation
from ctrip_core.services.accounts.merchants import add_api_key, api_keys_of, create_merchant, merchants, revoke_api_key
from ctrip_core.services.accounts.scopes import DEFAULT_SCOPES, SCOPES, UnknownScope, stored_scopes
from ctrip_core.services.accounts.treasuries import set_treasury
from ctrip_core.services.accounts.users import add_user, users_of
from ctrip_core.services.dashboard import invitations
from ctrip_core.services.errors import NotFound, ServiceError
from ctrip_core.services.sweeps.keys import signer_from_settings

#: `--scope`, repeatable or comma-separated: what the new key may do (services/accounts/scopes.py).
scope_option = click.option(
    "--scope", "scopes", multiple=True, metavar="SCOPE",
    help=f"A scope of the new key ({', '.join(SCOPES)}); repeat or comma-separate. "
         f"Default: {', '.join(DEFAULT_SCOPES)}.")


def _scopes(given: tuple[str, ...]) -> list[str] | None:
    names = [name for value in given for name in value.split(",") if name.strip()]
    try:
        stored_scopes(names)
    except UnknownScope as exc:
        raise click.BadParameter(str(exc), param_hint="--scope") from None
    return names or None


def _run(work):
    return asyncio.run(in_session(settings_for("api").database_url, work))


def _echo_new_key(merchant_id: str, key_id: str, api_key: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"merchant_id": merchant_id, "key_id": key_id, "api_key": api_key}))
    else:
        click.echo(f"merchant_id: {merchant_id}\nkey_id:      {key_id}\napi_key:     {api_key}\n"
                   "(the key is shown once; store it now)")


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


@click.group("merchant")
def merchant_group() -> None:
    """Merchants and API keys."""


@merchant_group.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help='Print {"merchant_id": ..., "key_id": ..., "api_key": ...}.')
@scope_option
def create_command(name: str, as_json: bool, scopes: tuple[str, ...]) -> None:
    """Create merchant NAME and print its API key once (only its hash is stored)."""
    names = _scopes(scopes)
    created = _run(lambda s: create_merchant(s, name, names))
    _echo_new_key(created.merchant_id, created.api_key_id, created.api_key, as_json)


@merchant_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def list_command(as_json: bool) -> None:
    """List merchants: id, active keys, created, name."""
    rows = _run(merchants)
    if as_json:
        click.echo(json.dumps([{"merchant_id": m.id, "name": m.name, "active_keys": n,
                                "created_at": m.created_at.isoformat()} for m, n in rows]))
        return
    for m, n in rows:
        click.echo(f"{m.id}  keys={n}  {_when(m.created_at)}  {m.name}")


@merchant_group.command("keys")
@click.argument("merchant_id")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def keys_command(merchant_id: str, as_json: bool) -> None:
    """List MERCHANT_ID's API keys: id, prefix, created, revoked (the keys themselves are never stored)."""
    keys = _run(lambda s: api_keys_of(s, merchant_id))
    if keys is None:
        raise click.ClickException(f"no merchant {merchant_id}")
    if as_json:
        click.echo(json.dumps([{"key_id": k.id, "prefix": k.key_prefix, "scopes": k.scopes.split(","),
                                "created_at": k.created_at.isoformat(),
                                "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None} for k in keys]))
        return
    for k in keys:
        state = f"revoked {_when(k.revoked_at)}" if k.revoked_at else "active"
        click.echo(f"{k.id}  {k.key_prefix}…  {k.scopes}  {_when(k.created_at)}  {state}")


@merchant_group.command("add-key")
@click.argument("merchant_id")
@click.option("--json", "as_json", is_flag=True, help='Print {"merchant_id": ..., "key_id": ..., "api_key": ...}.')
@scope_option
def add_key_command(merchant_id: str, as_json: bool, scopes: tuple[str, ...]) -> None:
    """Make a new API key for MERCHANT_ID and print it once (for rotation: add, deploy, revoke the old)."""
    names = _scopes(scopes)

    async def work(session):
        if await api_keys_of(session, merchant_id) is None:
            return None
        return await add_api_key(session, merchant_id, names)

    made = _run(work)
    if made is None:
        raise click.ClickException(f"no merchant {merchant_id}")
    _echo_new_key(merchant_id, *made, as_json)


@merchant_group.command("revoke-key")
@click.argument("key_id")
def revoke_key_command(key_id: str) -> None:
    """Revoke API key KEY_ID at once (the key itself is accepted too, and never printed)."""
    settings = settings_for("api")
    revoked = asyncio.run(in_session(settings.database_url, lambda s: revoke_api_key(s, key_id)))
    if revoked is None:
        shown = key_id if key_id.startswith("key_") else "that key"
        raise click.ClickException(f"no active API key {shown} (see `ctrip merchant keys MERCHANT`)")
    click.echo(f"revoked {revoked.id} ({revoked.key_prefix}…) of {revoked.merchant_id}")
    try:  # after the commit: API processes drop the keys they verified before it (api/key_cache.py)
        asyncio.run(announce_revocation(settings.redis_url))
    except Exception as exc:  # noqa: BLE001 - the revocation stands; say what it means
        click.echo(f"warning: redis_url unreachable ({type(exc).__name__}): running `ctrip api` processes may "
                   f"accept this key for up to api.key_cache_s = {settings.api.key_cache_s:g} s", err=True)


@merchant_group.command("set-treasury")
@click.argument("merchant_id")
@click.argument("chain_name")
@click.argument("address")
def set_treasury_command(merchant_id: str, chain_name: str, address: str) -> None:
    """Sweep MERCHANT_ID's deposits on CHAIN_NAME to ADDRESS, authorized with the mnemonic."""
    try:
        address = address_given(address)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="ADDRESS") from None
    settings = settings_for("cli")
    chains = load_chains(settings.chains_file)
    if chain_name not in chains:
        raise ConfigError("CHAIN", f"no chain named {chain_name!r} in {settings.chains_file}")
    signer = signer_from_settings(settings, "set-treasury")
    try:
        row = asyncio.run(in_session(settings.database_url,
                                     lambda s: set_treasury(s, signer, merchant_id, chains[chain_name], address)))
    except NotFound as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{row.merchant_id}\t{row.chain}\t{row.address}\t(authorized; the sweeper sends its deposits here)")


def _password_from_stdin_or_prompt() -> str:
    stdin = click.get_text_stream("stdin")
    if stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    password = stdin.read()
    return password[:-1] if password.endswith("\n") else password  # `echo` adds one newline; keep the rest


@merchant_group.command("add-user")
@click.argument("merchant_id")
@click.argument("email")
@click.option("--role", type=click.Choice(["owner", "viewer"]), default="viewer", show_default=True,
              help="An owner acts (refunds, payouts, keys, users); a viewer reads.")
@click.option("--link", is_flag=True,
              help="No password now: print a one-time link (valid 3 days) with which the user sets one.")
def add_user_command(merchant_id: str, email: str, role: str, link: bool) -> None:
    """Add a dashboard user EMAIL to MERCHANT_ID; the password comes from stdin (or a prompt), or
    with --link the user sets it through a one-time link."""
    password = None if link else _password_from_stdin_or_prompt()

    async def work(session):
        if link:
            return await invitations.invite(session, merchant_id, email, role, utcnow())
        return await add_user(session, merchant_id, email, password, role), None

    try:
        user, path = _run(work)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    except IntegrityError:  # the same email added by someone else at the same moment
        raise click.ClickException(f"a user with email {email.strip().lower()} exists already") from None
    click.echo(f"{user.id}\t{user.email}\t{user.role}\tof {user.merchant_id}")
    if path:
        click.echo(f"one-time link to set the password (valid 3 days; prefix your dashboard's address): {path}")


@merchant_group.command("users")
@click.argument("merchant_id")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def users_command(merchant_id: str, as_json: bool) -> None:
    """List MERCHANT_ID's dashboard users: id, email, role, created."""
    users = _run(lambda s: users_of(s, merchant_id))
    if users is None:
        raise click.ClickException(f"no merchant {merchant_id}")
    if as_json:
        click.echo(json.dumps([{"user_id": u.id, "email": u.email, "role": u.role,
                                "created_at": u.created_at.isoformat()} for u in users]))
        return
    for u in users:
        click.echo(f"{u.id}  {u.email}  {u.role}  {_when(u.created_at)}")


def register(cli: click.Group) -> None:
    cli.add_command(merchant_group)
