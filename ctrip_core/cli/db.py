"""`ctrip db upgrade|downgrade|current`: Alembic migrations of `database_url`."""

from __future__ import annotations

import click

from ctrip_core.cli.context import settings_for
from ctrip_core.db import migrate


@click.group("db")
def db_group() -> None:
    """Database migrations."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision: str) -> None:
    """Migrate the database up to REVISION (default: head)."""
    migrate.upgrade(settings_for().database_url, revision)
    click.echo(f"database at {migrate.current(settings_for().database_url)}")


@db_group.command("downgrade")
@click.argument("revision")
def downgrade_command(revision: str) -> None:
    """Migrate the database down to REVISION (`base` removes every table)."""
    migrate.downgrade(settings_for().database_url, revision)
    click.echo(f"database at {migrate.current(settings_for().database_url) or 'base'}")


@db_group.command("current")
def current_command() -> None:
    """Print the database's current revision."""
    click.echo(migrate.current(settings_for().database_url) or "base")


def register(cli: click.Group) -> None:
    cli.add_command(db_group)
