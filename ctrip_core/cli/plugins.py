"""`ctrip plugins`: what is installed under the `ctrip` entry-point group and what is enabled."""

from __future__ import annotations

import json

import click

from ctrip_core.cli.context import settings_for
from ctrip_core.plugins import installed_plugins


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(as_json: bool) -> None:
    """List installed plugins: entry-point name, package, version, enabled or not."""
    found = installed_plugins(settings_for())
    if as_json:
        click.echo(json.dumps([p.__dict__ for p in found], indent=2))
        return
    click.echo(f"{'NAME':<12} {'PACKAGE':<18} {'VERSION':<9} STATUS")
    for p in found:
        status = "core" if p.core else ("enabled" if p.enabled else "disabled")
        click.echo(f"{p.name:<12} {p.package:<18} {p.version:<9} {status}")


def register(cli: click.Group) -> None:
    cli.add_command(plugins_command)
