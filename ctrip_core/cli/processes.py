"""Long-running processes: `ctrip api`, `ctrip worker`, `ctrip scheduler`, `ctrip dev`.

Each checks what it needs before it starts anything (ctrip_core/preflight.py).
"""

from __future__ import annotations

import asyncio
import logging

import click

from ctrip_core.cli.context import settings_for


@click.command("api")
@click.option("--bind", default=None, help="host:port to listen on (default api.bind).")
@click.option("--workers", type=int, default=None, help="Hypercorn worker processes (default api.workers).")
def api_command(bind, workers) -> None:
    """Serve the HTTP API under Hypercorn (refuses to start when wallet.mnemonic is set)."""
    from hypercorn.config import Config

    from ctrip_core.api.metrics_access import metrics_bind
    from ctrip_core.api.workers import serve
    from ctrip_core.logs import configure_logging
    from ctrip_core.preflight import preflight

    settings = settings_for("api")
    checked = asyncio.run(preflight(settings, "api", secret_key=True))  # one line, exit 2 or 1, before any worker
    configure_logging()
    checked.log_notices()
    config = Config()
    config.bind = [bind or settings.api.bind]
    config.bind += [b for b in (metrics_bind(settings.metrics, config.bind[0]),) if b]  # /metrics there only
    config.workers = workers or settings.api.workers
    config.application_path = "ctrip_core.api.serve:asgi_app()"
    config.accesslog = None  # the app logs each request as JSON (api/request_log.py)
    config.errorlog = logging.getLogger("hypercorn.error")  # through our JSON handler, not a second copy
    config.graceful_timeout = 5
    config.worker_class = "uvloop"  # measured by bench/api.py: about a fifth less CPU per request
    raise SystemExit(serve(config))


@click.command("worker")
@click.option("--queues", default="scan,confirm,webhooks,sweep,reconcile", show_default=True,
              help="Comma-separated queues; only a worker serving `sweep` may hold wallet.mnemonic.")
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--metrics-port", type=int, default=None, help="Serve Prometheus metrics on this port.")
def worker_command(queues, processes, threads, metrics_port) -> None:
    """Run Dramatiq workers for the given queues (Redis broker)."""
    from ctrip_core.jobs.worker import check_queues, role_for, run_workers
    from ctrip_core.logs import configure_logging
    from ctrip_core.preflight import preflight

    names = check_queues([q.strip() for q in queues.split(",") if q.strip()])
    settings = settings_for(role_for(names))
    # Bad config, a service down, or no node of a chain's id: one line and exit 2 or 1, before forking.
    checked = asyncio.run(preflight(settings, role_for(names), secret_key="webhooks" in names,
                                    sweeps="sweep" in names, notifiers="webhooks" in names))
    configure_logging()
    checked.log_notices()
    run_workers(settings, names, processes, threads, metrics_port)


@click.command("scheduler")
def scheduler_command() -> None:
    """Enqueue scan and confirm per chain at its block time, webhooks, and the idempotency-key purge (safe if two run)."""
    from ctrip_core.jobs.worker import run_scheduler
    from ctrip_core.logs import configure_logging
    from ctrip_core.preflight import preflight

    settings = settings_for("scanner")
    checked = asyncio.run(preflight(settings, "scanner", secret_key=False))
    intervals = {name: chain.block_time_s for name, chain in checked.chains.items()}
    ws_urls = {name: chain.ws_url for name, chain in checked.chains.items() if chain.ws_url}
    configure_logging()
    checked.log_notices()
    asyncio.run(run_scheduler(settings, intervals, ws_urls))


@click.group("dev", invoke_without_command=True)
@click.option("--port", type=int, default=8000, show_default=True, help="API port (the next free one if taken).")
@click.option("--anvil-port", type=int, default=8545, show_default=True, help="Anvil port (next free if taken).")
@click.option("--receiver", is_flag=True, help="Also run a local webhook endpoint that prints each delivery.")
@click.pass_context
def dev_command(ctx, port: int, anvil_port: int, receiver: bool) -> None:
    """Everything in one process: SQLite, in-process jobs, a local Anvil, the API."""
    if ctx.invoked_subcommand is not None:
        return
    from pathlib import Path

    from ctrip_core.devnet.dev import STATE_DIR, AlreadyRunning, serve

    try:
        asyncio.run(serve(Path(STATE_DIR), port, anvil_port, receiver))
    except AlreadyRunning as exc:
        raise click.ClickException(str(exc)) from None


@dev_command.command("pay")
@click.argument("payment_id")
@click.option("--amount", default=None, help="Decimal amount to send instead of the payment's amount.")
@click.option("--partial", is_flag=True, help="Send half the amount.")
@click.option("--late", is_flag=True, help="Pay even if the payment is already final.")
def dev_pay_command(payment_id: str, amount: str | None, partial: bool, late: bool) -> None:
    """Pay PAYMENT_ID from an Anvil dev account (native or token)."""
    from pathlib import Path

    from ctrip_core.devnet.dev import STATE_DIR
    from ctrip_core.devnet.pay import PayError, pay

    try:
        tx_hash, value, asset, address = pay(Path(STATE_DIR), payment_id, amount, partial=partial, late=late)
    except PayError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"sent {value} base units of {asset} to {address} in {tx_hash}")


def register(cli: click.Group) -> None:
    for command in (api_command, worker_command, scheduler_command, dev_command):
        cli.add_command(command)
