"""Sweeping throughput, gas and exact reconciliation on a local Anvil (prints figures, never asserts).

Run: .venv/bin/python bench/sweep.py [--deposits 500] [--batch 1000] [--deadline-s 600]
Needs PostgreSQL on 127.0.0.1:5432 (user postgres) and anvil, like `make test`.

On an Anvil of its own (automine: every transaction is mined as it arrives, so the figures are the
sweeper's own cost, not block time) it makes DEPOSITS confirmed deposits, half native (ETH) and half
token (TUSD, 6 decimals), then runs `sweep_pass` in a loop (sweeps.batch high enough to take them all
in one pass) until every deposit's sweep is done, and prints:

  - sweeps/s: deposits swept (sweep done) per second of sweeping, and per pass what it started,
    broadcast and finished, with the JSON-RPC calls, HTTP requests and SQL statements it made;
  - gas per sweep kind from the receipts, against the minimum: 21,000 per native sweep; for a token
    sweep the token transfer's own gas plus one 21,000 top-up from the gas tank; and the wei each
    kind paid, with what the fee reserves left behind on deposit addresses;
  - reconciliation, all exact integers: the treasury's ETH gain = native deposits - native sweep fees
    - what each native sweep's unburnt fee reserve left on its address; its TUSD gain = token
    deposits; the gas tank's spend = top-ups + their fees; one transaction per deposit address.

How the deposits are made quickly: the scanner and confirmer are measured by bench/scan.py, so
here the sweeper alone is timed, and deposits are put straight into the state the confirmer leaves
them in. Payments are created through the service (`create_payment`: real derivation indexes and
addresses); native deposit addresses are funded with `anvil_setBalance` (one batched request, no
transactions); token deposits are real: one `batchTransfer` transaction from the funder pays all of
them (one Transfer log each); then one `confirmed` transfer row per deposit (the token ones with
that transaction's hash and log index, the native ones with a synthetic hash since no transaction
paid them) is inserted and each payment marked confirmed, in one database transaction.

Everything it starts (the node, the database) is stopped and dropped at the end, also on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address
from sqlalchemy import event, func, insert, select, update

from ctrip_core.config import load_settings
from ctrip_core.db import migrate
from ctrip_core.db.models import Payment, Sweep, Transfer
from ctrip_core.db.payment_insert import NewPayment
from ctrip_core.db.types import utcnow
from ctrip_core.devnet.accounts import FUNDER, FUNDER_KEY, GATEWAY_MNEMONIC, GATEWAY_XPUB
from ctrip_core.devnet.anvil import AnvilNode
from ctrip_core.devnet.chains_yaml import write_anvil_chains_file
from ctrip_core.devnet.scratch_database import create_database, drop_database
from ctrip_core.devnet.token import deploy_test_token, mint, wait_receipt
from ctrip_core.runtime import build_runtime
from ctrip_core.services.accounts.merchants import create_merchant
from ctrip_core.services.payments.operations import PaymentRequest, create_payment
from ctrip_core.services.sweeps.keys import SweepKeys
from ctrip_core.services.sweeps.sweep_pass import sweep_pass
from ctrip_core.services.sweeps.tracking import RECHECK_DONE_BLOCKS

PG_ADMIN_DSN = os.environ.get("CTRIP_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
CHAIN = "bench"
ETH = 10**18
NATIVE_GAS = 21_000


# -- infrastructure ------------------------------------------------------------------------------

class Rpc:
    """Batched JSON-RPC for set-up and the checks (not the sweeper's client)."""

    def __init__(self, url: str):
        self.url, self.http = url, httpx.AsyncClient(timeout=120)

    async def batch(self, calls: list[tuple[str, list]]) -> list:
        out = []
        for start in range(0, len(calls), 500):
            chunk = calls[start:start + 500]
            body = (await self.http.post(self.url, json=[{"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                                                         for i, (m, p) in enumerate(chunk)])).json()
            by_id = {item["id"]: item for item in body}
            for i, (method, _) in enumerate(chunk):
                if "error" in by_id[i]:
                    raise RuntimeError(f"{method}: {by_id[i]['error']}")
                out.append(by_id[i]["result"])
        return out

    async def call(self, method: str, *params):
        return (await self.batch([(method, list(params))]))[0]

    async def balances(self, addresses: list[str]) -> list[int]:
        return [int(r, 16) for r in await self.batch([("eth_getBalance", [a, "latest"]) for a in addresses])]

    async def token_balances(self, token: str, addresses: list[str]) -> list[int]:
        selector = "0x70a08231"
        return [int(r, 16) for r in await self.batch([
            ("eth_call", [{"to": token, "data": selector + "0" * 24 + a[2:].lower()}, "latest"]) for a in addresses])]

    async def nonces(self, addresses: list[str]) -> list[int]:
        return [int(r, 16) for r in await self.batch([("eth_getTransactionCount", [a, "latest"]) for a in addresses])]

    async def receipts(self, hashes: list[str]) -> list[dict | None]:
        return await self.batch([("eth_getTransactionReceipt", [h]) for h in hashes])


class Counters:
    """JSON-RPC calls and HTTP requests of the sweeper's chain client, SQL statements of its engine."""

    def __init__(self, rt):
        self.rpc_calls = Counter()
        self.http_requests = 0
        self.sql = 0
        client = rt.chains[CHAIN].rpc
        original = client._post

        async def counted(url, calls):
            self.http_requests += 1
            self.rpc_calls.update(method for method, _ in calls)
            return await original(url, calls)

        client._post = counted

        @event.listens_for(rt.engine.sync_engine, "before_cursor_execute")
        def _count(*_args):
            self.sql += 1

    def snapshot(self) -> tuple[int, int, int]:
        return sum(self.rpc_calls.values()), self.http_requests, self.sql


# -- the deposits --------------------------------------------------------------------------------

async def make_deposits(rt, rpc: Rpc, token: str, merchant_id: str, count: int) -> list[NewPayment]:
    natives, tokens = count - count // 2, count // 2
    async with rt.sessions() as s, s.begin():
        payments = [await create_payment(rt, merchant_id, PaymentRequest(CHAIN, "ETH", f"0.{i + 1:04d}1"), within=s)
                    for i in range(natives)]
        payments += [await create_payment(rt, merchant_id, PaymentRequest(CHAIN, "TUSD", f"{i + 1}.5"), within=s)
                     for i in range(tokens)]
    native_payments = [p for p in payments if p.asset == "ETH"]
    token_payments = [p for p in payments if p.asset == "TUSD"]
    await rpc.batch([("anvil_setBalance", [p.address, hex(p.amount_base_units)]) for p in native_payments])
    selector = function_signature_to_4byte_selector("batchTransfer(address[],uint256[])")
    args = [[p.address for p in token_payments], [p.amount_base_units for p in token_payments]]
    data = "0x" + (selector + encode(["address[]", "uint256[]"], args)).hex()
    tx_hash = await rpc.call("eth_sendTransaction", {"from": FUNDER, "to": token, "data": data, "gas": hex(30_000_000)})
    receipt = wait_receipt(rpc.url, tx_hash)
    block, block_hash = int(receipt["blockNumber"], 16), receipt["blockHash"]
    logs = {to_checksum_address("0x" + log["topics"][2][-40:]): int(log["logIndex"], 16) for log in receipt["logs"]}
    now = utcnow()
    rows = []
    for p in native_payments:
        rows.append(dict(chain=CHAIN, tx_hash="0x" + keccak(text=f"bench-native-{p.id}").hex().removeprefix("0x"),
                         log_index=-1, token_address=None, asset="ETH", payment_id=p.id,
                         amount_base_units=p.amount_base_units, to_address=p.address))
    for p in token_payments:
        rows.append(dict(chain=CHAIN, tx_hash=tx_hash, log_index=logs[p.address], token_address=token, asset="TUSD",
                         payment_id=p.id, amount_base_units=p.amount_base_units, to_address=p.address))
    async with rt.sessions() as s, s.begin():
        await s.execute(insert(Transfer), [r | dict(block_number=block, block_hash=block_hash, from_address=FUNDER,
                                                    state="confirmed", late=False, created_at=now, updated_at=now)
                                           for r in rows])
        await s.execute(update(Payment).where(Payment.id.in_([p.id for p in payments]))
                        .values(status="confirmed", amount_received_base_units=Payment.amount_base_units,
                                detected_at=now, confirmed_at=now, updated_at=now))
    return payments


# -- the run -------------------------------------------------------------------------------------

async def sweep_all(rt, keys, counters: Counters, payments: list[NewPayment], deadline_s: float) -> tuple[float, list]:
    """sweep_pass until every payment has a done sweep (bounded by time): (seconds, per-pass rows)."""
    ids = [p.id for p in payments]
    rows, started = [], time.perf_counter()
    while time.perf_counter() - started < deadline_s:
        before = counters.snapshot()
        t0 = time.perf_counter()
        report = await sweep_pass(rt, keys, CHAIN)
        took = time.perf_counter() - t0
        after = counters.snapshot()
        async with rt.sessions() as s:
            swept = await s.scalar(select(func.count(func.distinct(Transfer.payment_id))).join(
                Sweep, Sweep.id == Transfer.sweep_id).where(Transfer.payment_id.in_(ids), Sweep.state == "done"))
        rows.append((len(rows) + 1, took, len(report.created), report.broadcast, report.done, len(report.errors),
                     swept, *(a - b for a, b in zip(after, before))))
        if swept == len(ids):
            break
    return time.perf_counter() - started, rows


def anvil_cpu_s(node: AnvilNode) -> float:
    """User + system CPU seconds the Anvil process has used (from /proc; 0 where there is none)."""
    try:
        fields = Path(f"/proc/{node.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, AttributeError):
        return 0.0


async def idle_pass(rt, keys, counters: Counters) -> tuple[float, int, int, int]:
    before = counters.snapshot()
    t0 = time.perf_counter()
    await sweep_pass(rt, keys, CHAIN)
    took = time.perf_counter() - t0
    return (took, *(a - b for a, b in zip(counters.snapshot(), before)))


async def report(rt, rpc: Rpc, token: str, treasury: str, tank: str, payments: list[NewPayment],
                 tank_before: int, elapsed: float, passes: list, counters: Counters) -> None:
    n = len(payments)
    print(f"\n== throughput: {n} deposits ({sum(p.asset == 'ETH' for p in payments)} native, "
          f"{sum(p.asset == 'TUSD' for p in payments)} token)")
    print(f"{'pass':>4} {'seconds':>8} {'created':>8} {'bcast':>6} {'done':>6} {'errors':>6} {'swept':>6} "
          f"{'rpc':>6} {'http':>6} {'sql':>6}")
    for row in passes:
        print("{:>4} {:>8.2f} {:>8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}".format(*row))
    swept = passes[-1][6] if passes else 0
    print(f"swept {swept}/{n} in {elapsed:.1f}s over {len(passes)} passes: {swept / elapsed:.1f} sweeps/s "
          f"(deposits whose sweep is done per second)")
    calls, http, sql = counters.snapshot()
    print(f"per deposit: {calls / n:.1f} JSON-RPC calls in {http / n:.1f} HTTP requests, {sql / n:.1f} SQL statements")
    print("JSON-RPC calls by method: " + ", ".join(f"{m} {c}" for m, c in counters.rpc_calls.most_common()))

    async with rt.sessions() as s:
        sweeps = list(await s.scalars(select(Sweep).where(Sweep.chain == CHAIN)))
    receipts = dict(zip([w.tx_hash for w in sweeps], await rpc.receipts([w.tx_hash for w in sweeps])))
    used = {w.id: int(receipts[w.tx_hash]["gasUsed"], 16) for w in sweeps if receipts[w.tx_hash]}
    fee = {w.id: used[w.id] * int(receipts[w.tx_hash]["effectiveGasPrice"], 16) for w in sweeps if w.id in used}
    by_kind = {k: [w for w in sweeps if w.kind == k] for k in ("native", "gas_topup", "token")}
    states = Counter((w.kind, w.state) for w in sweeps)
    print("\n== sweeps by kind and state: " + ", ".join(f"{k}/{s} {c}" for (k, s), c in sorted(states.items())))

    natives, tokens = by_kind["native"], by_kind["token"]
    native_gas = sum(used.get(w.id, 0) for w in natives)
    token_gas = sum(used.get(w.id, 0) for w in tokens)
    topup_gas = sum(used.get(w.id, 0) for w in by_kind["gas_topup"])
    print("\n== gas (from receipts) against the minimum")
    print(f"native: {len(natives)} sweeps used {native_gas:,} gas; minimum {NATIVE_GAS * len(natives):,} "
          f"(21,000 each): {native_gas - NATIVE_GAS * len(natives):+,}")
    token_min = token_gas + NATIVE_GAS * len(tokens)
    print(f"token:  {len(tokens)} sweeps used {token_gas + topup_gas:,} gas ({token_gas:,} token transfers + "
          f"{topup_gas:,} in {len(by_kind['gas_topup'])} top-ups); minimum {token_min:,} (each transfer's own gas "
          f"+ one 21,000 top-up): {token_gas + topup_gas - token_min:+,}")
    if tokens:
        limits = sum(w.gas_limit for w in tokens)
        print(f"        token transfer gas limit {limits / len(tokens):,.0f} vs used {token_gas / len(tokens):,.0f} "
              f"on average (sweeps.gas_margin_pct {rt.settings.sweeps.gas_margin_pct})")

    native_payments = [p for p in payments if p.asset == "ETH"]
    token_payments = [p for p in payments if p.asset == "TUSD"]
    left_native = await rpc.balances([p.address for p in native_payments])
    left_token_native = await rpc.balances([p.address for p in token_payments])
    left_tokens = await rpc.token_balances(token, [p.address for p in payments])
    nonces = await rpc.nonces([p.address for p in payments])
    treasury_eth, = await rpc.balances([treasury])
    treasury_tusd, = await rpc.token_balances(token, [treasury])
    tank_after, = await rpc.balances([tank])
    native_fees = sum(fee.get(w.id, 0) for w in natives)
    topup_wei = sum(w.amount_base_units for w in by_kind["gas_topup"] if w.id in used)
    topup_fees = sum(fee.get(w.id, 0) for w in by_kind["gas_topup"])
    token_fees = sum(fee.get(w.id, 0) for w in tokens)
    deposits_eth = sum(p.amount_base_units for p in native_payments)
    deposits_tusd = sum(p.amount_base_units for p in token_payments)

    print("\n== wei")
    print(f"native sweeps paid {native_fees:,} wei in fees ({native_fees / max(1, len(natives)):,.0f} each); their "
          f"unburnt fee reserves left {sum(left_native):,} wei on the deposit addresses "
          f"({sum(left_native) / max(1, len(natives)):,.0f} each, less than one more sweep would cost)")
    print(f"token sweeps cost the gas tank {topup_wei + topup_fees:,} wei: top-ups {topup_wei:,} + their fees "
          f"{topup_fees:,}; the transfers burnt {token_fees:,} of the top-ups and {sum(left_token_native):,} wei "
          f"({sum(left_token_native) / max(1, len(tokens)):,.0f} per address) stays on token deposit addresses")

    def line(label: str, got: int, expected: int) -> None:
        verdict = "EXACT" if got == expected else f"OFF BY {got - expected:+,}"
        print(f"{label}: {got:,} vs expected {expected:,} -> {verdict}")

    print("\n== reconciliation")
    line("treasury ETH gain (deposits - native fees - reserves left)", treasury_eth,
         deposits_eth - native_fees - sum(left_native))
    line("treasury TUSD gain (token deposits)", treasury_tusd, deposits_tusd)
    line("gas tank spend (top-ups + their fees)", tank_before - tank_after, topup_wei + topup_fees)
    line("token deposit addresses' ETH (top-ups - transfer fees)", sum(left_token_native), topup_wei - token_fees)
    line("token units left on deposit addresses", sum(left_tokens), 0)
    print(f"transactions sent per deposit address: {dict(sorted(Counter(nonces).items()))} "
          f"(address count by nonce; 1 = exactly one sweep transaction)")


async def bench_chain(stack: AsyncExitStack, prefix: str) -> tuple[Path, AnvilNode, Rpc, str, str]:
    """A scratch directory, an Anvil of its own with the test token minted to the funder, and a fresh
    treasury (its balances start at zero): → (directory, node, rpc, token, treasury). `stack` stops
    and removes them."""
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
    node = AnvilNode.start(extra_args=["--gas-limit", "100000000"])
    stack.callback(node.stop)
    rpc = Rpc(node.rpc_url)
    stack.push_async_callback(rpc.http.aclose)
    token = deploy_test_token(node.rpc_url, FUNDER_KEY, decimals=6)
    mint(node.rpc_url, FUNDER_KEY, token, FUNDER, 10**15)
    return tmp, node, rpc, token, to_checksum_address(os.urandom(20))


async def bench_database(stack: AsyncExitStack) -> str:
    """A fresh, migrated PostgreSQL database, dropped when `stack` closes."""
    url = create_database(PG_ADMIN_DSN, prefix="ctrip_bench", migrated=False)
    stack.callback(drop_database, PG_ADMIN_DSN, url)
    migrate.upgrade(url)  # once it is sure to be dropped
    return url


def chains_file(directory: Path, rpc_url: str, token: str, treasury: str) -> Path:
    return write_anvil_chains_file(directory / "chains.yaml", rpc_url, token, name=CHAIN, treasury=treasury)


async def main(args) -> None:
    async with AsyncExitStack() as stack:
        tmp, node, rpc, token, treasury = await bench_chain(stack, "ctrip-bench-sweep-")
        url = await bench_database(stack)
        settings = load_settings("testing", database_url=url, chains_file=str(chains_file(tmp, node.rpc_url, token,
                                                                                          treasury)),
                                 secret_key="bench-secret-key-for-webhook-secrets",
                                 wallet={"xpub": GATEWAY_XPUB, "mnemonic": GATEWAY_MNEMONIC},
                                 sweeps={"batch": args.batch})
        rt = build_runtime(settings, "sweeper")
        stack.push_async_callback(rt.close)
        keys = SweepKeys.from_settings(settings, rt.chain_configs())
        tank = keys.tank_address(CHAIN)
        tank_before = 1000 * ETH
        await rpc.call("anvil_setBalance", tank, hex(tank_before))
        async with rt.sessions() as s, s.begin():
            merchant_id = (await create_merchant(s, "bench")).merchant_id

        t0 = time.perf_counter()
        payments = await make_deposits(rt, rpc, token, merchant_id, args.deposits)
        print(f"set-up: {len(payments)} confirmed deposits in {time.perf_counter() - t0:.1f}s; treasury {treasury}, "
              f"gas tank {tank}; sweeps.batch {args.batch}")

        counters = Counters(rt)
        cpu = (time.process_time(), anvil_cpu_s(node))
        elapsed, passes = await sweep_all(rt, keys, counters, payments, args.deadline_s)
        cpu = (time.process_time() - cpu[0], anvil_cpu_s(node) - cpu[1])
        idle = await idle_pass(rt, keys, counters)
        await report(rt, rpc, token, treasury, tank, payments, tank_before, elapsed, passes, counters)
        print(f"\n== CPU while sweeping: sweeper process {cpu[0]:.1f}s ({1000 * cpu[0] / len(payments):.1f} ms per "
              f"deposit), anvil {cpu[1]:.1f}s; wall-clock rates move with the machine's load, CPU less so")
        print(f"== an idle pass afterwards (nothing to start; re-checks the done sweeps of the last "
              f"{RECHECK_DONE_BLOCKS} blocks): {idle[0]:.2f}s, {idle[1]} JSON-RPC calls in {idle[2]} HTTP requests, "
              f"{idle[3]} SQL statements")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deposits", type=int, default=500)
    parser.add_argument("--batch", type=int, default=1000, help="sweeps.batch")
    parser.add_argument("--deadline-s", type=float, default=600.0, help="stop sweeping after this long")
    asyncio.run(main(parser.parse_args()))
    sys.exit(0)
