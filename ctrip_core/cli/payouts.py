"""`ctrip payouts list|approve`: the operator's view of payouts, and the approval of those above
`payouts.approval_above`, which needs the mnemonic (it signs the payout with the wallet's
authorization key, so neither the API host nor a database write can approve one)."""

from __future__ import annotations

import asyncio

import click

from ctrip_core.cli.context import in_session, settings_for
from ctrip_core.config.chains_file import load_chains
from ctrip_core.db.models import PAYOUT_STATUSES
from ctrip_core.money import format_amount
from ctrip_core.services.errors import Conflict, NotFound
from ctrip_core.services.payouts.requests import approve_payout, decimals_of, list_payouts
from ctrip_core.services.sweeps.keys import signer_from_settings
from ctrip_core.services.webhooks.secret_box import SecretBox


@click.group("payouts")
def payouts_group() -> None:
    """Payouts from merchants' payout wallets."""


def _line(payout, chains) -> str:
    amount = format_amount(int(payout.amount_base_units), decimals_of(chains, payout))
    return (f"{payout.id}\t{payout.merchant_id}\t{payout.status}\t{payout.chain}\t{amount} {payout.asset}\t"
            f"{payout.address}\t{payout.failure_reason or ''}")


@payouts_group.command("list")
@click.option("--status", type=click.Choice(PAYOUT_STATUSES), help="only payouts in this status")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
def list_command(status: str | None, limit: int) -> None:
    """Every merchant's payouts, newest first: id, merchant, status, chain, amount, address, failure."""
    settings = settings_for()
    chains = load_chains(settings.chains_file)
    rows, _ = asyncio.run(in_session(settings.database_url,
                                     lambda s: list_payouts(s, None, status=status, limit=limit, refunds=None)))
    for payout in rows:
        click.echo(_line(payout, chains))


@payouts_group.command("approve")
@click.argument("payout_id")
def approve_command(payout_id: str) -> None:
    """Approve PAYOUT_ID (awaiting approval): the sweeper sends it on its next pass."""
    settings = settings_for()
    chains = load_chains(settings.chains_file)
    signer = signer_from_settings(settings, "payouts approve")
    box = SecretBox.from_settings(settings)  # the API's secret_key: only a payout it sealed is approved
    try:
        payout = asyncio.run(in_session(settings.database_url, lambda s: approve_payout(s, signer, box, payout_id)))
    except (NotFound, Conflict) as exc:
        raise click.ClickException(exc.message) from None
    click.echo(_line(payout, chains))


def register(cli: click.Group) -> None:
    cli.add_command(payouts_group)
