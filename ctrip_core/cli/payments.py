"""`ctrip payments watch ID`: a live timeline of one payment, through the API, until it is final."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click
import httpx

from ctrip_core.db.models import FINISHED_SWEEP_STATES
from ctrip_core.services.payments.payment_state import FINAL_STATUSES, UNPAID_FINAL_STATUSES


def _api(api_url: str | None, api_key: str | None) -> tuple[str, str]:
    """--api-url/--api-key, else CTRIP_API_URL/CTRIP_API_KEY, else `ctrip dev`'s .ctrip/dev.json."""
    dev = Path(".ctrip/dev.json")
    state = json.loads(dev.read_text()) if dev.exists() else {}
    url = api_url or os.environ.get("CTRIP_API_URL") or state.get("api_url")
    key = api_key or os.environ.get("CTRIP_API_KEY") or state.get("api_key")
    if not url or not key:
        raise click.UsageError("no API given: pass --api-url/--api-key, set CTRIP_API_URL/CTRIP_API_KEY, "
                               "or run from the directory of `ctrip dev`")
    return url.rstrip("/"), key


def _line(p: dict) -> str:
    confs = [t["confirmations"] for t in p["transfers"] if t["state"] != "orphaned"]
    need = p["confirmations_required"]
    progress = f"{min(confs)}/{need} confirmations" if confs else "waiting for a transfer"
    return (f"{p['status']:<10} received {p['amount_received']}/{p['amount']} {p['asset']}  {progress}  "
            f"sweep: {p['sweep']['state']}")


@click.group("payments")
def payments_group() -> None:
    """Look at payments through the API."""


@payments_group.command("watch")
@click.argument("payment_id")
@click.option("--api-url", default=None)
@click.option("--api-key", default=None)
@click.option("--interval", type=float, default=1.0, show_default=True)
@click.option("--until-swept", is_flag=True, help="Keep watching after final until the sweep is done.")
@click.option("--timeout", type=float, default=600, show_default=True)
def watch_command(payment_id, api_url, api_key, interval, until_swept, timeout) -> None:
    """Print PAYMENT_ID's status as it changes (pending → detected → confirmed → swept)."""
    from rich.console import Console

    console = Console()
    url, key = _api(api_url, api_key)
    last, deadline = None, time.monotonic() + timeout
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=10) as http:
        while time.monotonic() < deadline:
            resp = http.get(f"{url}/v1/payments/{payment_id}")
            if resp.status_code != 200:
                raise click.ClickException(f"GET payment answered {resp.status_code}: {resp.text[:200]}")
            payment = resp.json()
            line = _line(payment)
            if line != last:
                console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {line}")
                last = line
            done = payment["status"] in FINAL_STATUSES and (not until_swept or payment["sweep"]["state"] in FINISHED_SWEEP_STATES
                                                   or payment["status"] in UNPAID_FINAL_STATUSES)
            if done:
                return
            time.sleep(interval)
    raise click.ClickException("timed out before the payment was final")


def register(cli: click.Group) -> None:
    cli.add_command(payments_group)
