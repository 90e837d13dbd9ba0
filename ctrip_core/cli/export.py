"""`ctrip export MERCHANT [--from] [--to] [--output FILE]`: the transactions report as CSV, as
GET /v1/reports/transactions.csv gives it (services/reports/transactions.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from ctrip_core.cli.context import in_session, settings_for
from ctrip_core.config.chains_file import load_chains
from ctrip_core.db.models import Merchant
from ctrip_core.services.errors import InvalidField
from ctrip_core.services.reports.transactions import as_csv, parse_moment, transaction_rows


@click.command("export")
@click.argument("merchant_id")
@click.option("--from", "since", help="ISO 8601 date or date-time, inclusive (UTC unless it says otherwise)")
@click.option("--to", "until", help="ISO 8601 date or date-time, exclusive")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="write here, not to stdout")
def export_command(merchant_id: str, since: str | None, until: str | None, output: Path | None) -> None:
    """Every payment, transfer, sweep, refund and payout of MERCHANT_ID as CSV (docs/payouts.md)."""
    try:
        start, end = parse_moment(since, "from"), parse_moment(until, "to")
    except InvalidField as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{exc.field}") from None
    settings = settings_for()
    chains = load_chains(settings.chains_file)

    async def rows(session):
        if await session.get(Merchant, merchant_id) is None:
            return None
        return await transaction_rows(session, merchant_id, chains, start, end)

    found = asyncio.run(in_session(settings.database_url, rows))
    if found is None:
        raise click.ClickException(f"no merchant {merchant_id}")
    text = as_csv(found)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"{len(found)} rows written to {output}", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(export_command)
