"""`ctrip dev`: the whole gateway in one process, with no services to install.

SQLite under `.ctrip/`, the same Dramatiq actors on an in-process stub broker and worker, the
scheduler as a task, a local Anvil (8545 or the next free port, 1 s blocks, state kept in
`.ctrip/anvil-state.json` so a second run finds its chain again), the test token deployed, a
merchant and API key created on first run and reused after, and the API under Hypercorn.
Everything it set up is written to `.ctrip/dev.json` for scripts.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path

import dramatiq

from ctrip_core.config import Settings, load_settings
from ctrip_core.db import migrate
from ctrip_core.devnet.accounts import ANVIL_XPUB, FIRST_DEPLOY_ADDRESS, FUNDER, FUNDER_KEY, GATEWAY_MNEMONIC
from ctrip_core.devnet.anvil import AnvilNode, free_port
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from ctrip_core.devnet.token import deploy_test_token, mint
from ctrip_core.config.chains_file import DEFAULT_GAS_TANK_PATH
from ctrip_core.wallet import XpubDeriver, xpub_from_mnemonic

log = logging.getLogger(__name__)

STATE_DIR = Path(".ctrip")
TOKEN_SUPPLY = 10**15  # 1e9 TUSD for the dev payer
GAS_TANK_FUNDS = 100 * 10**18


@dataclass
class DevState:
    """What a first run creates and later runs reuse (`.ctrip/dev.json`, plus the secret key file)."""

    api_url: str
    api_key: str | None
    merchant_id: str | None
    chains: dict

    def save(self, state_dir: Path) -> None:
        (state_dir / "dev.json").write_text(json.dumps(self.__dict__, indent=2) + "\n")

    @classmethod
    def load(cls, state_dir: Path) -> "DevState | None":
        path = state_dir / "dev.json"
        return cls(**json.loads(path.read_text())) if path.exists() else None


def _secret_key(state_dir: Path) -> str:
    path = state_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


class AlreadyRunning(Exception):
    """Another `ctrip dev` holds this directory's state (one SQLite database, one Anvil state)."""


def hold_state_dir(state_dir: Path) -> int:
    """Lock `state_dir/dev.lock` for this process's life (released by the OS when it exits, even on kill -9).

    Returns the open descriptor to keep; raises AlreadyRunning naming the other process.
    """
    fd = os.open(state_dir / "dev.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise AlreadyRunning(f"another `ctrip dev` (pid {other}) is running in this directory; "
                             f"stop it first, or run this one from another directory") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def port_from(wanted: int, what: str) -> int:
    """`wanted`, or the next free port, saying so."""
    port = free_port(wanted)
    if port != wanted:
        print(f"port {wanted} is taken; {what} on {port}", flush=True)
    return port


def start_chain(state_dir: Path, port: int) -> tuple[AnvilNode, str]:
    """Anvil with 1 s blocks and persistent state; the test token deployed once and funded."""
    node = AnvilNode.start(port_from(port, "Anvil"), block_time_s=1,
                           extra_args=["--state", str(state_dir / "anvil-state.json")])
    if node.rpc("eth_getCode", FIRST_DEPLOY_ADDRESS, "latest") in ("0x", None):
        token = deploy_test_token(node.rpc_url, FUNDER_KEY, decimals=6)
        mint(node.rpc_url, FUNDER_KEY, token, FUNDER, TOKEN_SUPPLY)
        tank = XpubDeriver(xpub_from_mnemonic(GATEWAY_MNEMONIC)).derive_path(DEFAULT_GAS_TANK_PATH)
        node.rpc("anvil_setBalance", tank, hex(GAS_TANK_FUNDS))  # pays token sweeps' gas
    return node, FIRST_DEPLOY_ADDRESS


def write_chains(state_dir: Path, node: AnvilNode, token: str) -> Path:
    return write_anvil_chains_file(state_dir / "chains.yaml", node.rpc_url, token, ws_url=node.ws_url,
                                   confirmations=2, comment="Written by `ctrip dev` for its local Anvil.")


def dev_settings(state_dir: Path, chains_file: Path) -> Settings:
    xpub = xpub_from_mnemonic(GATEWAY_MNEMONIC)
    assert xpub != ANVIL_XPUB  # deposits must never be Anvil's pre-funded accounts
    database_url = f"sqlite+aiosqlite:///{(state_dir / 'ctrip.db').resolve()}"
    secret_key = _secret_key(state_dir)
    write_cli_settings(state_dir, database_url, chains_file, secret_key, xpub)
    return load_settings("development", database_url=database_url,
                         chains_file=str(chains_file), secret_key=secret_key,
                         wallet={"xpub": xpub, "mnemonic": GATEWAY_MNEMONIC},
                         webhooks={"allow_private_targets": True})  # local receivers, from any directory


def write_cli_settings(state_dir: Path, database_url: str, chains_file: Path, secret_key: str, xpub: str) -> None:
    """`.ctrip/settings.toml` (config.settings.DEV_SETTINGS_FILE): what `ctrip merchant`, `wallet`,
    `chains` ... run in this directory need to reach this gateway (never the mnemonic)."""
    path = state_dir / "settings.toml"
    path.touch(mode=0o600)
    path.write_text(f"""# Written by `ctrip dev`: other `ctrip` commands run in this directory (CTRIP_ENV development)
# read it after settings.toml, so they reach this gateway; CTRIP_ variables still win.
[development]
database_url = {json.dumps(database_url)}
chains_file = {json.dumps(str(chains_file.resolve()))}
secret_key = {json.dumps(secret_key)}

[development.wallet]
xpub = {json.dumps(xpub)}
""")


async def ensure_merchant(runtime, state: DevState | None) -> tuple[str, str]:
    from ctrip_core.services.accounts.merchants import create_merchant, merchant_for_key
    from ctrip_core.services.accounts.scopes import SCOPES

    if state and state.api_key:
        async with runtime.read_sessions() as session:
            if await merchant_for_key(session, state.api_key):
                return state.merchant_id, state.api_key
    async with runtime.sessions() as session, session.begin():
        created = await create_merchant(session, "dev merchant", SCOPES)  # development: every scope
    return created.merchant_id, created.api_key


def start_jobs(settings: Settings, intervals: dict[str, float], ws_urls: dict[str, str] | None = None):
    """The production actors on a stub broker with an in-process worker, and their scheduler."""
    from ctrip_core.jobs.actors import QUEUES, register_actors
    from ctrip_core.jobs.broker import get_broker
    from ctrip_core.jobs.context import JobContext
    from ctrip_core.jobs.scheduler import Scheduler

    broker = get_broker(settings, embedded=True)
    context = JobContext(settings, "dev")
    broker.add_middleware(context)
    actors = register_actors(broker, context)
    worker = dramatiq.Worker(broker, queues=set(QUEUES), worker_threads=4)
    worker.start()
    scheduler = Scheduler(intervals, actors, webhook_interval_s=settings.webhooks.poll_s,
                          purge_interval_s=settings.idempotency.purge_every_s, ws_urls=ws_urls,
                          reconcile_interval_s=settings.reconcile.interval_s)
    return worker, scheduler


def banner(state: DevState) -> str:
    lines = ["", "cTrip dev is running", f"  API        {state.api_url}   (docs: {state.api_url}/docs)",
             f"  API key    {state.api_key}", f"  merchant   {state.merchant_id}"]
    for name, chain in state.chains.items():
        assets = ", ".join(chain["assets"])
        lines.append(f"  chain      {name} (id {chain['chain_id']}) at {chain['rpc_url']}: {assets}")
    lines += ["", "Try:", f"  curl -s -X POST {state.api_url}/v1/payments -H 'Authorization: Bearer {state.api_key}' \\",
              "       -H 'Content-Type: application/json' -d '{\"chain\":\"anvil\",\"asset\":\"ETH\",\"amount\":\"0.5\"}'",
              "  ctrip dev pay <payment id>        # pay it from an Anvil dev account", "",
              "State in .ctrip/ (dev.json for scripts). Ctrl-C stops everything.", ""]
    return "\n".join(lines)


async def _receiver(runtime, merchant_id: str, port: int, stop: asyncio.Event):
    """Start the printing webhook receiver; returns its server coroutine."""
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    from ctrip_core.devnet.receiver import RECEIVER_PATH, receiver_app, register_receiver

    url = f"http://127.0.0.1:{port}{RECEIVER_PATH}"
    secret = await register_receiver(runtime, merchant_id, url)
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    print(f"  webhooks   printed here, delivered to {url}\n", flush=True)
    return hypercorn_serve(receiver_app(secret), config, shutdown_trigger=stop.wait)


async def serve(state_dir: Path, port: int, anvil_port: int, receiver: bool = False) -> None:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    from ctrip_core.api import create_app
    from ctrip_core.devnet.receiver import remove_receivers
    from ctrip_core.runtime import build_runtime, verify_reachable_chains

    state_dir.mkdir(exist_ok=True)
    lock = hold_state_dir(state_dir)
    node, token = start_chain(state_dir, anvil_port)
    worker = None
    try:
        settings = dev_settings(state_dir, write_chains(state_dir, node, token))
        await asyncio.to_thread(migrate.upgrade, settings.database_url)
        runtime = build_runtime(settings, "dev")
        for notice in await verify_reachable_chains(runtime.chains):
            log.warning(notice)
        merchant_id, api_key = await ensure_merchant(runtime, DevState.load(state_dir))
        if not receiver:  # one left by a run that was killed: nothing listens there any more
            await remove_receivers(runtime, merchant_id)
        api_port = port_from(port, "the API")
        state = DevState(api_url=f"http://127.0.0.1:{api_port}", api_key=api_key, merchant_id=merchant_id,
                         chains={n: {"chain_id": c.config.chain_id, "rpc_url": node.rpc_url,
                                     "assets": [c.config.native.symbol] + [t.symbol for t in c.config.tokens],
                                     "tokens": {t.symbol: t.address for t in c.config.tokens}}
                                 for n, c in runtime.chains.items()})
        state.save(state_dir)
        worker, scheduler = start_jobs(settings, {n: c.config.block_time_s for n, c in runtime.chains.items()},
                                       {n: c.config.ws_url for n, c in runtime.chains.items()})
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        config = Config()
        config.bind = [f"127.0.0.1:{api_port}"]
        config.accesslog = None
        servers = [hypercorn_serve(create_app(runtime), config, shutdown_trigger=stop.wait)]
        print(banner(state), flush=True)
        if receiver:
            servers.append(await _receiver(runtime, merchant_id, port_from(api_port + 1, "the receiver"), stop))
        ticker = asyncio.create_task(scheduler.run(stop))
        await asyncio.gather(*servers)
        await ticker
        if receiver:  # nothing will listen there once this process is gone
            await remove_receivers(runtime, merchant_id)
        await runtime.close()
    finally:
        if worker is not None:
            worker.stop()
        node.stop()
        os.close(lock)
        print("cTrip dev stopped; state kept in .ctrip/", flush=True)
