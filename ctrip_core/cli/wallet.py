"""`ctrip wallet ...`: the xpub for the API side, derived addresses, each chain's gas tank and each
merchant's payout wallet."""

from __future__ import annotations

import asyncio
import sys

import click

from ctrip_core.chains.registry import build_chains
from ctrip_core.chains.erc20 import balance_of
from ctrip_core.chains.rpc import RpcError
from ctrip_core.cli.context import in_session, settings_for
from ctrip_core.config import ConfigError
from ctrip_core.db.models import Merchant
from ctrip_core.money import format_amount
from ctrip_core.plugins import address_deriver, get_plugin_manager
from ctrip_core.services.sweeps.gas_tanks import gas_tank_address
from ctrip_core.wallet import payout_path, xpub_from_mnemonic


@click.group("wallet")
def wallet_group() -> None:
    """HD wallet helpers."""


@wallet_group.command("xpub")
def xpub_command() -> None:
    """Print the account xpub (m/44'/60'/0') of the mnemonic on stdin or in CTRIP_WALLET__MNEMONIC."""
    settings = settings_for()
    if settings.wallet.mnemonic is not None:
        mnemonic = settings.wallet.mnemonic.get_secret_value()
    elif not sys.stdin.isatty():
        mnemonic = sys.stdin.read()
    else:
        mnemonic = click.prompt("mnemonic", hide_input=True)
    if not mnemonic.strip():
        raise ConfigError("wallet.mnemonic", "no mnemonic on stdin or in CTRIP_WALLET__MNEMONIC")
    click.echo(xpub_from_mnemonic(mnemonic))


@wallet_group.command("address")
@click.argument("index", type=click.IntRange(0, 2**31 - 1))
def address_command(index: int) -> None:
    """Print deposit address INDEX (m/44'/60'/0'/0/INDEX) from wallet.xpub."""
    settings = settings_for("api")
    click.echo(address_deriver(get_plugin_manager(settings), settings).derive(index))


@wallet_group.command("gas-tank")
@click.argument("chain_name", required=False)
def gas_tank_command(chain_name: str | None) -> None:
    """Print each chain's gas-tank address (it pays token sweeps' gas) and its balance."""
    settings = settings_for("api")
    pm = get_plugin_manager(settings)
    deriver = address_deriver(pm, settings)
    chains = build_chains(settings, pm)
    asyncio.run(_print_tanks(_selected(settings, chains, chain_name), deriver))


def _selected(settings, chains, chain_name):
    if chain_name is not None and chain_name not in chains:
        raise ConfigError("CHAIN", f"no chain named {chain_name!r} in {settings.chains_file}")
    return [chains[chain_name]] if chain_name else list(chains.values())


async def _print_tanks(chains, deriver) -> None:
    for chain in chains:
        address = gas_tank_address(deriver, chain.config)
        if address is None:
            await chain.close()
            click.echo(f"{chain.config.name}\t-\tthe address deriver has no paths\t{chain.config.gas_tank}")
            continue
        try:
            balance = f"{await chain.get_balance(address)} wei"
        except RpcError as exc:
            balance = f"balance unknown ({exc})"
        finally:
            await chain.close()
        click.echo(f"{chain.config.name}\t{address}\t{balance}\t{chain.config.gas_tank}")


@wallet_group.command("payout-address")
@click.argument("merchant_id")
@click.argument("chain_name", required=False)
def payout_address_command(merchant_id: str, chain_name: str | None) -> None:
    """Print MERCHANT_ID's payout wallet (m/44'/60'/0'/2/…) and its balance of each asset per chain."""
    settings = settings_for()  # run where the sweeper runs (with the mnemonic) or the API (without)
    pm = get_plugin_manager(settings)
    address = address_deriver(pm, settings).derive_path(payout_path(merchant_id))
    if address is None:
        raise click.ClickException("the address deriver has no paths: it cannot show a payout wallet")
    if asyncio.run(in_session(settings.database_url, lambda s: s.get(Merchant, merchant_id))) is None:
        raise click.ClickException(f"no merchant {merchant_id}")
    selected = _selected(settings, build_chains(settings, pm), chain_name)
    asyncio.run(_print_payout_wallet(selected, address))


async def _print_payout_wallet(chains, address: str) -> None:
    for chain in chains:
        config = chain.config
        assets = [(config.native.symbol, config.native.decimals, None)]
        assets += [(t.symbol, t.decimals, t.address) for t in config.tokens]
        try:
            for symbol, decimals, token in assets:
                try:
                    units = await (chain.get_balance(address) if token is None else balance_of(chain, token, address))
                    amount = f"{format_amount(units, decimals)} ({units} base units)"
                except RpcError as exc:
                    amount = f"balance unknown ({exc})"
                click.echo(f"{config.name}\t{address}\t{symbol}\t{amount}")
        finally:
            await chain.close()


def register(cli: click.Group) -> None:
    cli.add_command(wallet_group)
