"""The `ctrip` command. Each sub-module holds one command group; this one wires them and the exit codes.

Exit codes (CONTRACT §1): 0 ok; 2 bad usage or configuration, with one line naming the key or
file; 1 any other failure, with one line (set CTRIP_DEBUG=1 for the traceback).
"""

from __future__ import annotations

import os
import sys

import click

from ctrip_core.chains.evm import ChainIdMismatch
from ctrip_core.config import ConfigError, ServiceUnavailable
from ctrip_core.logs import one_line
from ctrip_core.wallet import WalletError

CONFIG_ERRORS = (ConfigError, ChainIdMismatch, WalletError)


class CtripGroup(click.Group):
    """Turns configuration errors into exit 2 and other failures into exit 1, one line each."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except CONFIG_ERRORS as exc:
            click.echo(f"ctrip: configuration error: {exc}", err=True)
            ctx.exit(2)
        except ServiceUnavailable as exc:
            click.echo(f"ctrip: error: {exc}", err=True)
            ctx.exit(1)
        except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
            if os.environ.get("CTRIP_DEBUG"):
                raise
            click.echo(f"ctrip: error: {one_line(exc)}", err=True)
            ctx.exit(1)


@click.group(cls=CtripGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ctrip-core", prog_name="ctrip")
def cli() -> None:
    """cTrip: a self-hosted crypto payment gateway for EVM chains."""


def _register_commands() -> None:
    from ctrip_core.cli import (chains, db, export, health, merchant, payments, payouts, plugins, processes,
                                reconcile, secret_key, wallet)

    for module in (chains, db, export, health, merchant, payments, payouts, plugins, processes, reconcile,
                   secret_key, wallet):
        module.register(cli)


def main(argv: list[str] | None = None) -> None:
    _register_commands()
    cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="ctrip")
