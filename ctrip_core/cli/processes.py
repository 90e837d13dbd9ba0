"""Long-running processes: `ctrip api`, `ctrip worker`, `ctrip scheduler`, `ctrip dev`.

Each arrives with its own issue; until then the command says so and exits 1.
"""

from __future__ import annotations

import click

from ctrip_core.cli.context import settings_for


def _not_yet(name: str) -> None:
    click.echo(f"ctrip {name}: not yet built", err=True)
    raise SystemExit(1)


@click.command("api")
@click.option("--bind", default=None, help="host:port to listen on (default api.bind).")
@click.option("--workers", type=int, default=None, help="Hypercorn worker processes (default api.workers).")
def api_command(bind, workers) -> None:
    """Serve the HTTP API under Hypercorn (refuses to start when wallet.mnemonic is set)."""
    import asyncio

    from hypercorn.config import Config
    from hypercorn.run import run

    from ctrip_core.runtime import build_runtime

    settings = settings_for("api")
    asyncio.run(build_runtime(settings, "api").close())  # fail fast, with exit 2, on bad config
    config = Config()
    config.bind = [bind or settings.api.bind]
    config.workers = workers or settings.api.workers
    config.application_path = "ctrip_core.api.serve:asgi_app()"
    config.accesslog = None
    config.graceful_timeout = 5
    raise SystemExit(run(config))


@click.command("worker")
@click.option("--queues", default="scan,confirm,webhooks,sweep", show_default=True)
@click.option("--processes", type=int, default=1, show_default=True)
@click.option("--threads", type=int, default=4, show_default=True)
def worker_command(queues, processes, threads) -> None:
    """Run Dramatiq workers for the given queues."""
    _not_yet("worker")


@click.command("scheduler")
def scheduler_command() -> None:
    """Enqueue periodic scan, confirm and expiry jobs."""
    _not_yet("scheduler")


@click.command("dev")
def dev_command() -> None:
    """Everything in one process: SQLite, in-process jobs, a local Anvil, the API."""
    _not_yet("dev")


def register(cli: click.Group) -> None:
    for command in (api_command, worker_command, scheduler_command, dev_command):
        cli.add_command(command)
