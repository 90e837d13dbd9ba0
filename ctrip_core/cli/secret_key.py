"""`ctrip secret-key generate|rotate`: make a `secret_key`, and move stored secrets to a new one.

Rotation (docs/operations.md, "Rotating secret_key"): set the new key as `secret_key` and the old
one as `secret_key_previous` on every process and restart them (they open with either key, seal
with the new one), run `ctrip secret-key rotate`, then remove `secret_key_previous`.
"""

from __future__ import annotations

import asyncio
import json
import secrets

import click

from ctrip_core.cli.context import in_session, settings_for
from ctrip_core.services.webhooks.secret_box import SecretBox
from ctrip_core.services.webhooks.secret_rotation import reseal_all


@click.group("secret-key")
def secret_key_group() -> None:
    """The key that encrypts webhook secrets at rest."""


@secret_key_group.command("generate")
def generate_command() -> None:
    """Print a new random secret_key (256 bits)."""
    click.echo(secrets.token_urlsafe(32))


@secret_key_group.command("rotate")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def rotate_command(as_json: bool) -> None:
    """Re-seal every stored secret with secret_key (secret_key_previous still opens the old ones)."""
    settings = settings_for()
    box = SecretBox.from_settings(settings)
    report = asyncio.run(in_session(settings.database_url, lambda session: reseal_all(session, box)))
    if as_json:
        click.echo(json.dumps(vars(report)))
    else:
        click.echo(f"re-sealed with secret_key: {report.endpoint_secrets} webhook endpoint secrets, "
                   f"{report.sealed_replays} stored replays, {report.totp_secrets} two-factor secrets")
    if report.unreadable:
        hint = ("set secret_key_previous to the key they were sealed with" if settings.secret_key_previous is None
                else "neither key sealed them")
        click.echo(f"ctrip: error: {report.unreadable} stored secrets open with neither secret_key nor "
                   f"secret_key_previous and were left as they are ({hint})", err=True)
        raise SystemExit(1)


def register(cli: click.Group) -> None:
    cli.add_command(secret_key_group)
