"""`ctrip merchant create|revoke-key`: merchants and their API keys."""

from __future__ import annotations

import asyncio
import json

import click

from ctrip_core.cli.context import settings_for
from ctrip_core.db import migrate
from ctrip_core.db.engine import create_engine, session_factory
from ctrip_core.services.api_keys import announce_revocation
from ctrip_core.services.merchants import create_merchant, revoke_api_key


async def _in_session(url: str, work):
    await asyncio.to_thread(migrate.require_head, url)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


@click.group("merchant")
def merchant_group() -> None:
    """Merchants and API keys."""


@merchant_group.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help='Print {"merchant_id": ..., "api_key": ...}.')
def create_command(name: str, as_json: bool) -> None:
    """Create merchant NAME and print its API key once (only its hash is stored)."""
    created = asyncio.run(_in_session(settings_for("api").database_url, lambda s: create_merchant(s, name)))
    if as_json:
        click.echo(json.dumps({"merchant_id": created.merchant_id, "api_key": created.api_key}))
    else:
        click.echo(f"merchant_id: {created.merchant_id}\napi_key:     {created.api_key}\n"
                   "(the key is shown once; store it now)")


@merchant_group.command("revoke-key")
@click.argument("key_id")
def revoke_key_command(key_id: str) -> None:
    """Revoke API key KEY_ID at once."""
    settings = settings_for("api")
    if not asyncio.run(_in_session(settings.database_url, lambda s: revoke_api_key(s, key_id))):
        raise click.ClickException(f"no active API key {key_id}")
    click.echo(f"revoked {key_id}")
    try:  # after the commit: API processes drop the keys they verified before it (api/key_cache.py)
        asyncio.run(announce_revocation(settings.redis_url))
    except Exception as exc:  # noqa: BLE001 - the revocation stands; say what it means
        click.echo(f"warning: redis_url unreachable ({type(exc).__name__}): running `ctrip api` processes may "
                   f"accept this key for up to api.key_cache_s = {settings.api.key_cache_s:g} s", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(merchant_group)
