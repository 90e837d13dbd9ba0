"""What the sweep tests share: a gateway on a real Anvil and PostgreSQL holding sweeping keys,
payments paid on chain, sweep passes run until quiet, exact on-chain accounting (balances, fees
from receipts, nonces), and `ctrip`-like sweeper subprocesses (see sweep_once.py).

Not a test module: tests in tests/sweeps import it as `from sweep_support import ...` (pytest's
prepend import mode puts a test module's directory on sys.path).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import select

from testbed import REDIS_URL, create_database, drop_database, make_settings, new_merchant
from ctrip_core.db.models import Event, Payment, Sweep, Transfer
from ctrip_core.db.payment_insert import NewPayment
from ctrip_core.devnet.accounts import FUNDER_KEY, GATEWAY_MNEMONIC, GATEWAY_XPUB
from ctrip_core.devnet.chains_yaml import TOKEN_DECIMALS, write_anvil_chains_file
from ctrip_core.devnet.payer import Payer
from ctrip_core.devnet.token import _calldata
from ctrip_core.money import format_amount
from ctrip_core.runtime import build_runtime
from ctrip_core.services.watching.confirming import confirm_step
from ctrip_core.services.payments.operations import PaymentRequest, create_payment
from ctrip_core.services.watching.scanning import scan_chain
from ctrip_core.services.sweeps.keys import SweepKeys
from ctrip_core.services.sweeps.sweep_pass import sweep_pass
from ctrip_core.services.sweeps.tracking import SweepReport
from subprocesses import ctrip_env

ETH = 10**18
SWEEP_ONCE = Path(__file__).with_name("sweep_once.py")


class Rpc:
    """Synchronous JSON-RPC over one keep-alive connection, for set-up and on-chain checks."""

    def __init__(self, url: str):
        self.url, self.http = url, httpx.Client(timeout=30)

    def __call__(self, method: str, *params):
        body = self.http.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                              "params": list(params)}).json()
        if "error" in body:
            raise RuntimeError(f"{method}: {body['error']}")
        return body["result"]

    def balance(self, address: str) -> int:
        return int(self("eth_getBalance", address, "latest"), 16)

    def nonce(self, address: str, tag: str = "latest") -> int:
        """Transactions `address` has sent (mined ones for "latest")."""
        return int(self("eth_getTransactionCount", address, tag), 16)

    def token_balance(self, token: str, owner: str) -> int:
        return int(self("eth_call", {"to": token, "data": _calldata("balanceOf(address)", ["address"], [owner])},
                        "latest"), 16)

    def receipt(self, tx_hash: str) -> dict | None:
        return self("eth_getTransactionReceipt", tx_hash)

    def fee(self, tx_hash: str) -> int:
        """What the mined transaction paid for gas, from its receipt."""
        r = self.receipt(tx_hash)
        assert r is not None, f"{tx_hash} is not mined"
        return int(r["gasUsed"], 16) * int(r["effectiveGasPrice"], 16)

    def set_balance(self, address: str, wei: int) -> None:
        self("anvil_setBalance", address, hex(wei))

    def close(self) -> None:
        self.http.close()


@dataclass
class Gateway:
    """One chain of a sweeping gateway: runtime, keys, a merchant, and the node under it."""

    rt: object
    keys: SweepKeys
    merchant_id: str
    token: str
    chain: str
    native: str
    db_url: str
    chains_file: Path
    rpc: Rpc
    funder: Payer
    extra_settings: dict

    @property
    def tank(self) -> str:
        return self.keys.tank_address(self.chain)

    def decimals(self, asset: str) -> int:
        return 18 if asset == self.native else TOKEN_DECIMALS

    async def payment(self, asset: str, units: int, **request) -> NewPayment:
        async with self.rt.sessions() as s, s.begin():
            return await create_payment(self.rt, self.merchant_id, PaymentRequest(
                self.chain, asset, format_amount(units, self.decimals(asset)), **request), within=s)

    def send(self, address: str, asset: str, units: int) -> str:
        """Pay `address` on chain (not waited for)."""
        if asset == self.native:
            return self.funder.native(address, units)
        return self.funder.token(self.token, address, units)

    async def sync(self) -> None:
        await scan_chain(self.rt, self.chain)
        await confirm_step(self.rt, self.chain)

    async def paid(self, asset: str, units: int) -> NewPayment:
        """A payment created, paid in full on chain, scanned and confirmed."""
        p = await self.payment(asset, units)
        self.funder.wait([self.send(p.address, asset, units)])
        await self.sync()
        return p

    async def paid_all(self, orders: list[tuple[str, int]]) -> list[NewPayment]:
        """Several payments created, paid in full (one block each), then scanned and confirmed at once."""
        payments = [await self.payment(asset, units) for asset, units in orders]
        self.funder.wait([self.send(p.address, asset, units) for p, (asset, units) in zip(payments, orders)])
        await self.sync()
        async with self.rt.sessions() as s:
            statuses = set(await s.scalars(select(Payment.status).where(Payment.id.in_([p.id for p in payments]))))
        assert statuses == {"confirmed"}, statuses
        return payments

    async def sweep_pass(self) -> SweepReport:
        return await sweep_pass(self.rt, self.keys, self.chain)

    async def sweep_until_quiet(self, max_passes: int = 12) -> list[SweepReport]:
        """Passes until one starts nothing and no sweep is pending or submitted (bounded)."""
        reports, deadline = [], time.monotonic() + 30
        while len(reports) < max_passes:
            report = await self.sweep_pass()
            if report.busy:  # another sweeper (or a just-killed one's lingering session) holds the lock
                assert time.monotonic() < deadline, "the sweep lock stayed busy for 30 s"
                await asyncio.sleep(0.05)
                continue
            reports.append(report)
            if not report.created and not await self.open_sweeps():
                return reports
        raise AssertionError(f"sweeps still open after {max_passes} passes: {reports}")

    async def open_sweeps(self) -> list[Sweep]:
        async with self.rt.sessions() as s:
            return list(await s.scalars(select(Sweep).where(Sweep.chain == self.chain,
                                                            Sweep.state.in_(("pending", "submitted")))))

    async def sweeps_of(self, address: str) -> list[Sweep]:
        """Sweeps from the address, and gas top-ups to it, oldest first."""
        async with self.rt.sessions() as s:
            return list(await s.scalars(select(Sweep).where(
                Sweep.chain == self.chain, (Sweep.from_address == address) | (Sweep.to_address == address))
                .order_by(Sweep.created_at)))

    async def transfers_of(self, payment_id: str) -> list[Transfer]:
        async with self.rt.sessions() as s:
            return list(await s.scalars(select(Transfer).where(Transfer.payment_id == payment_id)))

    async def reload(self, payment_id: str) -> Payment:
        async with self.rt.sessions() as s:
            return await s.get(Payment, payment_id)

    async def events_of(self, payment_id: str) -> list[str]:
        async with self.rt.sessions() as s:
            return list(await s.scalars(select(Event.type).where(Event.payment_id == payment_id).order_by(Event.seq)))

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a sweeper subprocess on this gateway (configuration by CTRIP_ variables only)."""
        env = ctrip_env(self.db_url, self.chains_file, REDIS_URL, CTRIP_WALLET__MNEMONIC=GATEWAY_MNEMONIC)
        for section, values in self.extra_settings.items():
            for key, value in values.items():
                env[f"CTRIP_{section.upper()}__{key.upper()}"] = \
                    "@json " + json.dumps(value) if isinstance(value, dict) else str(value)
        env.update(extra)
        return env

    def start_sweeper(self, *, passes: int = 1, crash: str | None = None, go_file: Path | None = None
                      ) -> subprocess.Popen:
        """`sweep_once.py` in its own session: `passes` sweep passes; `crash` = "before:N" or "after:N"
        SIGKILLs it at its Nth broadcast, before the node gets the transaction or right after;
        with `go_file` it says "ready" and waits for that file before its first pass."""
        env = self.env(**({"SWEEP_TEST_CRASH": crash} if crash else {}),
                       **({"SWEEP_TEST_GO_FILE": str(go_file)} if go_file else {}))
        return subprocess.Popen([sys.executable, str(SWEEP_ONCE), self.chain, str(passes)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def finish(proc: subprocess.Popen, timeout_s: float = 60) -> tuple[int, list[dict], str]:
    """Wait for a sweeper subprocess: (return code, its pass reports, its stderr). Killed if it overruns."""
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
    reports = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    return proc.returncode, reports, err.decode(errors="replace")


async def open_gateway(tmp_path: Path, rpc_url: str, token: str, *, chain: str = "anvil", adapter: str = "anvil",
                       chain_id: int = 31337, native: str = "ETH", tank_wei: int = 10 * ETH, confirmations: int = 1,
                       **settings) -> Gateway:
    """A fresh database, a sweeper runtime on it with GATEWAY_MNEMONIC, and a funded gas tank."""
    url = create_database()
    chains_file = write_anvil_chains_file(tmp_path / "chains.yaml", rpc_url, token, name=chain, adapter=adapter,
                                          chain_id=chain_id, native={"symbol": native, "decimals": 18},
                                          confirmations=confirmations)
    rt = build_runtime(make_settings(url, chains_file, wallet={"xpub": GATEWAY_XPUB, "mnemonic": GATEWAY_MNEMONIC},
                                     **settings), "sweeper")
    await scan_chain(rt, chain)  # start scanning at the head
    keys = SweepKeys.from_settings(rt.settings, rt.chain_configs())
    rpc = Rpc(rpc_url)
    rpc.set_balance(keys.tank_address(chain), tank_wei)
    merchant_id = (await new_merchant(rt))[0]
    return Gateway(rt=rt, keys=keys, merchant_id=merchant_id, token=token, chain=chain, native=native, db_url=url,
                   chains_file=chains_file, rpc=rpc, funder=Payer(FUNDER_KEY, rpc), extra_settings=settings)


async def close_gateway(gw: Gateway) -> None:
    await gw.rt.close()
    gw.rpc.close()
    drop_database(gw.db_url)
