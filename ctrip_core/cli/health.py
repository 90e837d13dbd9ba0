"""`ctrip health KIND`: the liveness check of a worker, sweeper or scheduler on this host (container
healthchecks, monitoring): exit 0 when its heartbeat is fresh, 1 with the reason otherwise."""

from __future__ import annotations

import click

from ctrip_core.cli.context import settings_for
from ctrip_core.jobs.heartbeat import KINDS


@click.command("health")
@click.argument("kind", type=click.Choice(KINDS))
def health_command(kind: str) -> None:
    """Exit 0 when this host's KIND process has a fresh heartbeat in Redis, else 1 with the reason."""
    from ctrip_core.jobs.heartbeat import check

    problem = check(settings_for().redis_url, kind)
    if problem is not None:
        click.echo(f"ctrip health: {problem}", err=True)
        raise SystemExit(1)
    click.echo(f"{kind}: live")


def register(cli: click.Group) -> None:
    cli.add_command(health_command)
