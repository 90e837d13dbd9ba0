"""`ctrip reconcile [CHAIN]`: one balance-audit pass now (docs/reconcile.md).

Prints one line per (address, asset) nothing explains and one per transfer it credited, then a
summary per chain. Exit codes: 0 every balance is what the ledger says (after crediting what it
found); 3 something unexplained was reported (a monitor can tell "found a difference" from "could
not run", which stays 1; bad usage or configuration stays 2).
"""

from __future__ import annotations

import asyncio

import click

from ctrip_core.cli.context import settings_for
from ctrip_core.config import ConfigError

#: Exit code when the audit ran and reported something it could not explain.
UNEXPLAINED_EXIT = 3


async def _run(settings, chain_name: str | None) -> list:
    from ctrip_core.runtime import build_runtime
    from ctrip_core.services.reconcile.audit import reconcile_chain

    runtime = build_runtime(settings, "cli")  # reads and records; never signs
    try:
        if chain_name is not None and chain_name not in runtime.chains:
            raise ConfigError("CHAIN", f"no chain named {chain_name!r} in {settings.chains_file}")
        names = [chain_name] if chain_name else list(runtime.chains)
        return [await reconcile_chain(runtime, name) for name in names]
    finally:
        await runtime.close()


def _summary(report) -> str:
    if report.busy:
        return f"{report.chain}: another audit pass is running; nothing checked"
    if report.block is None:
        return f"{report.chain}: not scanned yet; nothing checked"
    return (f"{report.chain}: {report.addresses} addresses at block {report.block}: {len(report.credited)} credited, "
            f"{report.count('shortfall')} shortfall, {report.count('excess')} excess unexplained; skipped "
            f"{report.mid_sweep} mid-sweep, {report.not_known_yet} not known yet")


@click.command("reconcile")
@click.argument("chain_name", required=False)
def reconcile_command(chain_name: str | None) -> None:
    """Check every deposit address's balances against the ledger; credit what the chain explains.

    Exit 0 when everything reconciles, 3 when something unexplained was reported."""
    reports = asyncio.run(_run(settings_for(), chain_name))
    for report in reports:
        for entry in report.credited:
            click.echo(f"{report.chain} credited {entry} (source reconcile)")
        for found in report.unexplained:
            click.echo(found.line())
        click.echo(_summary(report))
    if any(r.unexplained for r in reports):
        raise SystemExit(UNEXPLAINED_EXIT)


def register(cli: click.Group) -> None:
    cli.add_command(reconcile_command)
