"""The chaos soak: a seeded schedule of payments and faults against a real gateway, then invariants.

Not a test module (tests/chaos/test_chaos_soak.py runs it). One run, `run_soak(seed, duration_s)`:

1. Set-up: Anvil (blocks mined by the soak, one per second of wall clock: `devnet.py`), a fresh
   PostgreSQL database, Redis, two fault proxies in front of the node (the chain's `rpc_url` list:
   a primary and a fallback provider), a webhook receiver, and real `ctrip` processes: a scanning
   worker (scan, confirm), a webhook worker, a sweeping worker (the only one with the mnemonic) and
   the scheduler.
2. Chaos, `duration_s` ticks of about a second: the schedule drawn from `random.Random(seed)`
   (`make_schedule`) creates payments and pays them (exactly, partly, in two parts, twice, late,
   within seconds of `expires_at`, full then dust just after expiry, or never), and injects faults:
   random 5xx/429/timeouts/garbage/nulls on a proxy (`FaultProxy.chaos`), a lagging provider
   (`behind(n, full=True)`), null receipts, reorgs up to confirmations + 2 deep, fee spikes (so
   sweeps wait and get replaced), and `kill -9` of a random process, restarted a few ticks later.
3. Settle: faults off, every process up, blocks still mined each second, until the gateway has
   nothing left to do (no open payment, sweep or delivery; deposit balances swept) or a deadline.
4. Invariants (invariants.py), computed from the chain read straight from Anvil.

Payments' pay times are anchored to their creation or expiry in seconds (wall clock), so that on a
loaded machine a slow tick shifts them with the chain's clock instead of across `expires_at`.
Everything random is drawn from the seed; what the processes do in between (which request meets
which fault) is up to the machine, so a seed replays its schedule, not its interleaving.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from eth_utils import to_checksum_address
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook

from testbed import REDIS_URL, create_database, drop_database, make_settings, new_merchant
from ctrip_core.config.chains_file import DEFAULT_GAS_TANK_PATH
from ctrip_core.devnet.accounts import GATEWAY_MNEMONIC
from ctrip_core.devnet.chains_yaml import TOKEN_DECIMALS, write_anvil_chains_file
from ctrip_core.devnet.payer import Payer
from ctrip_core.money import format_amount
from ctrip_core.runtime import build_runtime
from ctrip_core.services.webhooks.secret_box import SecretBox
from ctrip_core.services.webhooks import endpoints as webhook_endpoints
from ctrip_core.services.payments.operations import PaymentRequest, create_payment
from devnet import FORWARDER_CALL_GAS, Devnet
from fault_proxy import FaultProxy
from invariants import (FIRST_INTERNAL, Violation, check_events, check_money, check_payments, check_signed,
                        check_transfers, derive_gateway, read_chain, sweeps_seen)
from receiver import Receiver
from subprocesses import CTRIP, Processes, ctrip_env

CONFIRMATIONS = 2
TICK_S = 1.0
ETH = 10**18
TOKENS_PER_PAYER = 1_000 * 10**6
#: Fault modes of a flaky provider (`FaultProxy.chaos`); "timeout" holds a request past rpc_timeout_s.
CHAOS_MODES = ("http500", "http429", "timeout", "drop", "garbage", "rpc_error", "rate_limit_code", "null_result",
               "missing_ids")
RPC_TIMEOUT_S = 2
#: What a "tamper" fault changes in an open sweep row (`Soak._tamper`): the recipient, the token, the
#: derivation index (and sender) to another deposit's, the sender alone, the amount ×10 or halved. Not
#: the amount of a gas top-up: its replacement is still signed for the row's amount (within the tank's
#: balance, to the deposit address), so a raised one strands the tank's coin there (not done yet).
TAMPERINGS = ("to_address", "token_address", "derivation_index", "from_address", "amount_up", "amount_down")
PROCESS_NAMES = ("scanner", "hooks", "sweeper", "scheduler")
PLANS = ("exact", "exact", "partial", "split", "twice", "late", "near_expiry", "near_expiry", "dust_after", "never",
         "fwd_exact", "fwd_partial", "fwd_twice", "fwd_reverted", "fwd_batch")
#: fwd_*: native coin paid through a Forwarder (internal transfers). A fwd_batch payment comes with a
#: partner payment ("fwd_partner", created with it) that the same forwardBatch call pays in full.


# --- the schedule ----------------------------------------------------------------------------------

#: How a payment is paid: straight from the payer's wallet, or through a Forwarder contract (an
#: internal transfer, seen only in call traces): one call, nested through the second forwarder, a batch
#: paying this payment and its partner in one transaction, a successful transaction whose sub-call
#: sent the value and reverted (nothing arrives), or a transaction that reverts as a whole.
VIAS = ("wallet", "forward", "forward_via", "batch", "reverted_subcall", "reverted_tx")
#: The ways that move nothing to the deposit address.
VIAS_PAYING_NOTHING = ("reverted_subcall", "reverted_tx")


@dataclass(frozen=True)
class Pay:
    """Pay `units` (of the payment's asset) `offset_s` seconds after the payment's creation or expiry,
    `via` one of VIAS; a batch also pays `partner_units` to payment `partner` in the same call."""

    anchor: str  # "created" | "expires"
    offset_s: float
    units: int
    via: str = "wallet"
    partner: int | None = None
    partner_units: int = 0

    def __str__(self) -> str:
        via = "" if self.via == "wallet" else f" via {self.via}"
        if self.partner is not None:
            via += f" (+{self.partner_units} to p{self.partner})"
        return f"{self.units}@{self.anchor}{self.offset_s:+.1f}s{via}"


@dataclass(frozen=True)
class PlannedPayment:
    number: int
    tick: int  # created at this tick
    asset: str
    units: int
    expires_in: int
    plan: str
    pays: tuple[Pay, ...]

    def __str__(self) -> str:
        pays = ", ".join(map(str, self.pays)) or ("paid by its partner's batch" if self.plan == "fwd_partner"
                                                 else "none")
        return (f"t={self.tick:3d} payment p{self.number}: {self.plan} {self.asset} {self.units} "
                f"expires_in={self.expires_in}s pays: {pays}")


@dataclass(frozen=True)
class Fault:
    tick: int
    kind: str  # chaos | lag | null_receipts | reorg | kill | fee_spike | tamper | stale_version
    args: tuple

    def __str__(self) -> str:
        return f"t={self.tick:3d} fault {self.kind} {' '.join(map(str, self.args))}"


@dataclass
class StaleVersions:
    """The stale_version fault: armed until tick `armed_until`; once a gateway transaction waits in the
    pool, no block is mined for `stall` ticks (longer than the sweeper's replace_after_s), and every
    replacement the sweeper sends in that time is dropped from the pool for the version it replaced
    (a miner that never saw the replacement). So an earlier version of a gas top-up or sweep is what
    gets mined: the gateway must adopt it, and never record its own top-up as a payment (defect 11)."""

    armed_until: int
    stall: int
    stall_left: int | None = None
    first: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)  # (sender, nonce) → (hash, raw)
    swapped: int = 0


@dataclass
class Schedule:
    seed: int
    ticks: int
    payments: list[PlannedPayment]
    faults: list[Fault]

    def lines(self) -> list[str]:
        items = sorted([(p.tick, 0, str(p)) for p in self.payments] + [(f.tick, 1, str(f)) for f in self.faults])
        return [line for _, _, line in items]


def _plan_pays(rng: random.Random, plan: str, units: int, expires_in: int) -> tuple[Pay, ...]:
    on_time = lambda: rng.uniform(1, max(1.5, expires_in - 5))  # noqa: E731 - a local draw
    if plan == "exact":
        return (Pay("created", on_time(), units),)
    if plan == "partial":
        return (Pay("created", on_time(), units * rng.randint(20, 80) // 100),)
    if plan == "split":
        first = units * rng.randint(20, 80) // 100
        a, b = sorted((on_time(), on_time()))
        return (Pay("created", a, first), Pay("created", b + 1, units - first))
    if plan == "twice":
        at = on_time()
        return (Pay("created", at, units), Pay("created", at + rng.uniform(0.5, 8), units))
    if plan == "late":
        return (Pay("expires", rng.uniform(1, 5), units),)
    if plan == "near_expiry":
        return (Pay("expires", rng.uniform(-3.5, 1.5), units),)
    if plan == "dust_after":
        return (Pay("expires", rng.uniform(-3.5, -1.5), units), Pay("expires", rng.uniform(0.5, 2.5), 1))
    if plan == "fwd_exact":
        return (Pay("created", on_time(), units, rng.choice(("forward", "forward_via"))),)
    if plan == "fwd_partial":
        return (Pay("created", on_time(), units * rng.randint(20, 80) // 100, "forward"),)
    if plan == "fwd_twice":
        at = on_time()
        return (Pay("created", at, units, "forward"), Pay("created", at + rng.uniform(0.5, 8), units, "forward_via"))
    if plan == "fwd_reverted":
        # Two payments that move nothing, then the real one: counting either reverted send overpays it.
        a, b = sorted((on_time(), on_time()))
        return (Pay("created", a, units, "reverted_subcall"), Pay("created", a + 0.2, units, "reverted_tx"),
                Pay("created", b + 1, units, "forward"))
    return ()


def _planned(rng: random.Random, number: int, ticks: int) -> list[PlannedPayment]:
    """Payment `number` drawn from `rng` (two for a fwd_batch: it and its partner, `number + 1`)."""
    asset = rng.choice(("ETH", "TUSD"))
    units = rng.randint(5, 100) * 10**16 if asset == "ETH" else rng.randint(1, 500) * 10**5
    expires_in = rng.randint(8, 20)
    plan = rng.choice(PLANS)
    if plan.startswith("fwd") and asset != "ETH":  # a Forwarder pays native coin only
        asset, units = "ETH", rng.randint(5, 100) * 10**16
    tick = rng.randint(0, max(0, ticks - expires_in - 8))
    if plan != "fwd_batch":
        return [PlannedPayment(number, tick, asset, units, expires_in, plan, _plan_pays(rng, plan, units, expires_in))]
    partner_units = rng.randint(5, 100) * 10**16
    pay = Pay("created", rng.uniform(1, max(1.5, expires_in - 5)), units, "batch", number + 1, partner_units)
    return [PlannedPayment(number, tick, asset, units, expires_in, plan, (pay,)),
            PlannedPayment(number + 1, tick, "ETH", partner_units, expires_in, "fwd_partner", ())]


def make_schedule(seed: int, ticks: int) -> Schedule:
    """Payments and faults for `ticks` ticks, all drawn from `random.Random(seed)`."""
    rng = random.Random(seed)
    payments: list[PlannedPayment] = []
    while len(payments) < max(4, ticks // 3):
        payments += _planned(rng, len(payments), ticks)
    faults = []
    for _ in range(max(3, ticks // 3)):
        tick = rng.randint(1, max(1, ticks - 3))
        kind = rng.choice(("chaos", "chaos", "lag", "lag", "null_receipts", "reorg", "reorg", "kill", "kill",
                           "fee_spike", "tamper", "stale_version"))
        proxy = rng.choice(("primary", "fallback", "both"))
        if kind == "chaos":
            modes = tuple(sorted(rng.sample(CHAOS_MODES, rng.randint(1, 4))))
            args = (proxy, round(rng.uniform(0.05, 0.35), 2), ",".join(modes), rng.randint(2, 8), rng.randrange(2**32))
        elif kind == "lag":
            args = (proxy, rng.randint(1, CONFIRMATIONS + 3), rng.randint(2, 10))
        elif kind == "null_receipts":
            args = (proxy, rng.randint(1, 6))
        elif kind == "reorg":
            args = (rng.randint(1, CONFIRMATIONS + 2), rng.randrange(2**32))
        elif kind == "kill":
            args = (rng.choice(PROCESS_NAMES), rng.randint(1, 5))
        elif kind == "tamper":
            args = (rng.randint(3, 10), rng.randrange(2**32))
        elif kind == "stale_version":
            args = (rng.randint(5, 15), rng.randint(9, 14))
        else:
            args = (rng.randint(20, 80),)
        faults.append(Fault(tick, kind, args))
    faults.sort(key=lambda f: f.tick)
    payments.sort(key=lambda p: (p.tick, p.number))
    return Schedule(seed, ticks, payments, faults)


# --- the gateway under test ----------------------------------------------------------------------

def clear_gateway_keys(url: str) -> None:
    """Queued jobs, the scheduler's lease and its "already enqueued" marks of earlier runs, nothing else
    (other tests may share the Redis database)."""
    client = redis.Redis.from_url(url)
    try:
        for pattern in ("dramatiq:*", "ctrip:*"):
            for key in client.scan_iter(match=pattern, count=500):
                client.delete(key)
    finally:
        client.close()


@dataclass
class Issued:
    planned: PlannedPayment
    id: str
    address: str
    token: str | None
    created: float  # wall clock (s)
    expires: float
    payer: Payer
    due: list[tuple[float, Pay]] = field(default_factory=list)  # (wall-clock time, what) still to pay
    txs: list[str] = field(default_factory=list)  # what the payer sent


class Gateway:
    """The four `ctrip` processes over one database, Redis DB and chains file; restarted by name."""

    def __init__(self, workdir: Path, env: dict[str, str], sweeper_env: dict[str, str]):
        self.procs = Processes(workdir, env)
        self.sweeper_procs = Processes(workdir, sweeper_env)
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str) -> None:
        args = {"scanner": [CTRIP, "worker", "--queues", "scan,confirm", "--threads", "2"],
                "hooks": [CTRIP, "worker", "--queues", "webhooks", "--threads", "2"],
                "sweeper": [CTRIP, "worker", "--queues", "sweep", "--threads", "1"],
                "scheduler": [CTRIP, "scheduler"]}[name]
        group = self.sweeper_procs if name == "sweeper" else self.procs
        self.running[name] = group.start(name, args)

    def kill(self, name: str) -> None:
        proc = self.running.pop(name, None)
        if proc is not None:
            Processes.kill(proc, signal.SIGKILL)

    def ensure_all(self) -> None:
        for name in PROCESS_NAMES:
            proc = self.running.get(name)
            if proc is None or proc.poll() is not None:
                self.start(name)

    def stop(self) -> None:
        self.procs.stop_all()
        self.sweeper_procs.stop_all()
        self.running.clear()

    def logs(self) -> str:
        return self.procs.logs(limit=3000)


@dataclass
class SoakResult:
    seed: int
    duration_s: int
    schedule: Schedule
    log: list[str]
    violations: list[Violation]
    settled: bool
    timings: dict[str, float]
    gateway_logs: str = ""

    def report(self) -> str:
        lines = [f"chaos soak seed={self.seed} duration={self.duration_s}s: "
                 f"{len(self.violations)} violation(s); settled={self.settled}; "
                 + ", ".join(f"{k} {v:.0f}s" for k, v in self.timings.items()),
                 f"replay: make chaos SEED={self.seed} DURATION={self.duration_s}", "", "schedule:",
                 *self.schedule.lines(), "", "what happened:", *self.log]
        if self.violations:
            lines += ["", "violations:", *map(str, self.violations)]
        return "\n".join(lines)


class Soak:
    def __init__(self, seed: int, duration_s: int, workdir: Path, *, settle_s: float = 150.0):
        self.seed, self.duration_s, self.workdir, self.settle_s = seed, duration_s, workdir, settle_s
        self.schedule = make_schedule(seed, duration_s)
        self.rng = random.Random(seed ^ 0x5EED)  # what the schedule leaves open (reorgs' kept transactions)
        self.log: list[str] = []
        self.issued: list[Issued] = []
        self.by_number: dict[int, Issued] = {}
        self.tampering: list[tuple[int, random.Random]] = []  # (until tick, what to draw from) of tamper windows
        self.tampered: set[str] = set()  # sweep ids changed by the soak's "attacker"
        self.stale: StaleVersions | None = None
        self.swapped_back: set[str] = set()  # earlier versions the stale_version fault put back in the pool
        self.restarts: list[tuple[int, str]] = []

    def note(self, tick: int | str, line: str) -> None:
        self.log.append(f"t={tick:>3} {line}" if isinstance(tick, int) else f"{tick} {line}")

    # -- set-up ------------------------------------------------------------------------------------
    async def setup(self) -> None:
        self.net = Devnet.start()
        payer_rng = random.Random(self.seed ^ 0xFEE)
        self.payers = [self.net.new_payer(payer_rng) for _ in self.schedule.payments]
        self.token = self.net.deploy_token(self.payers, TOKENS_PER_PAYER)
        self.forwarders = self.net.deploy_forwarders()
        for payer in self.payers:
            self.net.set_balance(payer.address, 1_000 * ETH)
        self.treasury = self.net.new_payer(payer_rng).address  # a fresh address: its balance is exactly what was swept
        self.attacker = self.net.new_payer(payer_rng).address  # where tampered sweeps would send funds: must end with 0
        self.deposits, self.tank = derive_gateway(GATEWAY_MNEMONIC, range(0, 4 * len(self.payers) + 20),
                                                  DEFAULT_GAS_TANK_PATH)
        self.net.gateway_addresses = set(self.deposits.values()) | {self.tank}
        self.net.set_balance(self.tank, 1_000 * ETH)
        self.net.mine_on_demand()

        self.primary = FaultProxy(self.net.node.rpc_url, hold_s=RPC_TIMEOUT_S + 1).start()
        self.fallback = FaultProxy(self.net.node.rpc_url, hold_s=RPC_TIMEOUT_S + 1).start()
        self.db_url = create_database()
        chains = write_anvil_chains_file(self.workdir / "chains.yaml", [self.primary.url, self.fallback.url],
                                         self.token, rpc_timeout_s=RPC_TIMEOUT_S, confirmations=CONFIRMATIONS,
                                         block_time_s=TICK_S, traces="debug", treasury=self.treasury)
        clear_gateway_keys(REDIS_URL)
        self.rt = build_runtime(make_settings(self.db_url, chains, payments={"min_expiry_s": 1, "max_expiry_s": 3600,
                                                                             "default_expiry_s": 3600}), "api")
        self.merchant_id = (await new_merchant(self.rt))[0]
        self.receiver = Receiver().start()
        async with self.rt.sessions() as s, s.begin():
            _, self.secret = await webhook_endpoints.create_endpoint(s, SecretBox.from_settings(self.rt.settings),
                                                                     self.merchant_id, self.receiver.url, None)
        # The processes run in the work directory, away from the project's settings.toml: every setting
        # they need is given here (the receiver is on 127.0.0.1, a private target).
        extra = {"CTRIP_WEBHOOKS__TIMEOUT_S": "2", "CTRIP_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
                 "CTRIP_SWEEPS__REPLACE_AFTER_S": "6"}
        env = ctrip_env(self.db_url, chains, REDIS_URL, **extra)
        self.gateway = Gateway(self.workdir, env, env | {"CTRIP_WALLET__MNEMONIC": GATEWAY_MNEMONIC})
        self.gateway.ensure_all()
        deadline = time.monotonic() + 90
        while await self._scalar("SELECT last_block FROM chain_cursors WHERE chain = 'anvil'") is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the scanner never started\n{self.gateway.logs()}")
            self.net.mine()
            await asyncio.sleep(TICK_S)
        self.first_block = self.net.head() + 1

    async def teardown(self) -> None:
        for closer in (getattr(self, "gateway", None) and self.gateway.stop,
                       getattr(self, "receiver", None) and self.receiver.stop,
                       getattr(self, "primary", None) and self.primary.stop,
                       getattr(self, "fallback", None) and self.fallback.stop):
            if closer:
                closer()
        if getattr(self, "rt", None):
            await self.rt.close()
        if getattr(self, "db_url", None):
            drop_database(self.db_url)
        if getattr(self, "net", None):
            self.net.stop()

    async def _scalar(self, sql: str, **params):
        async with self.rt.sessions() as s:
            return (await s.execute(text(sql), params)).scalar()

    async def _rows(self, sql: str, **params) -> list[dict]:
        async with self.rt.sessions() as s:
            return [dict(r._mapping) for r in (await s.execute(text(sql), params))]

    # -- chaos -------------------------------------------------------------------------------------
    def _proxies(self, which: str) -> list[FaultProxy]:
        return {"primary": [self.primary], "fallback": [self.fallback], "both": [self.primary, self.fallback]}[which]

    def _apply_fault(self, tick: int, fault: Fault, ends: list[tuple[int, callable, str]]) -> None:
        kind, args = fault.kind, fault.args
        if kind == "chaos":
            which, rate, modes, ticks, seed = args
            for proxy in self._proxies(which):
                proxy.chaos(rate, modes.split(","), seed=seed)
            ends.append((tick + ticks, lambda: [p.chaos(0) for p in self._proxies(which)], f"chaos off on {which}"))
        elif kind == "lag":
            which, blocks, ticks = args
            for proxy in self._proxies(which):
                proxy.behind(blocks, full=True)
            ends.append((tick + ticks, lambda: [p.behind(0) for p in self._proxies(which)], f"lag off on {which}"))
        elif kind == "null_receipts":
            which, n = args
            for proxy in self._proxies(which):
                proxy.fail_next(n, "null_calls", method="eth_getTransactionReceipt")
        elif kind == "reorg":
            depth, seed = args
            self.note(tick, self.net.reorg(depth, random.Random(seed), CONFIRMATIONS))
            return
        elif kind == "kill":
            name, after = args
            self.gateway.kill(name)
            self.restarts.append((tick + after, name))
        elif kind == "fee_spike":
            self.net.fee_spike(args[0])
        elif kind == "tamper":
            ticks, seed = args
            self.tampering.append((tick + ticks, random.Random(seed)))
        elif kind == "stale_version":
            armed, stall = args
            self.stale = StaleVersions(tick + armed, stall)
        self.note(tick, f"{fault.kind} {' '.join(map(str, fault.args))}")

    def _gateway_pool(self) -> dict[tuple[str, int], str]:
        """(sender, nonce) → hash of the gateway's transactions waiting in Anvil's pool."""
        pool = self.net.rpc("txpool_content")["pending"]
        return {(to_checksum_address(sender), int(nonce)): tx["hash"] for sender, txs in pool.items()
                if to_checksum_address(sender) in self.net.gateway_addresses for nonce, tx in txs.items()}

    def _stalled(self, tick: int) -> bool:
        """The stale_version fault (see StaleVersions); True while no block may be mined."""
        stale = self.stale
        if stale is None:
            return False
        pool = self._gateway_pool()
        if stale.stall_left is None:  # armed: stall as soon as a gateway transaction waits
            if tick >= stale.armed_until or not pool:
                self.stale = None if tick >= stale.armed_until else stale
                return False
            stale.stall_left = stale.stall
            self.note(tick, f"mining stalled ({len(pool)} gateway transaction(s) waiting): replacements will be "
                            f"dropped for their earlier version")
        for key, tx_hash in sorted(pool.items()):
            first = stale.first.get(key)
            if first is None:
                stale.first[key] = (tx_hash, self.net.rpc("eth_getRawTransactionByHash", tx_hash))
            elif first[0] != tx_hash:
                replacement = self.net.rpc("eth_getRawTransactionByHash", tx_hash)
                self.net.rpc("anvil_dropTransaction", tx_hash)
                try:
                    self.net.send_raw(first[1])
                except RuntimeError as refused:  # e.g. its fee cap now below the base fee (fee_spike)
                    try:
                        self.net.send_raw(replacement)  # the pool keeps what the gateway sent: nothing lost
                    except RuntimeError:
                        pass  # the gateway sent a newer version meanwhile: the pool holds that one
                    self.note(tick, f"earlier version {first[0]} refused by the node ({refused}); "
                                    f"replacement {tx_hash} kept")
                    stale.first[key] = (tx_hash, replacement)
                    continue
                stale.swapped += 1
                if first[0] not in self.swapped_back:
                    what = "gas top-up" if key[0] == self.tank else "sweep"
                    self.note(tick, f"replacement {tx_hash} of {what} {key[0]} nonce {key[1]} dropped, its earlier "
                                    f"version {first[0]} back in the pool (again each time it is sent)")
                self.swapped_back.add(first[0])
        stale.stall_left -= 1
        if stale.stall_left > 0:
            return True
        self.note(tick, f"mining resumes ({stale.swapped} replacement(s) swapped for an earlier version)")
        self.stale = None
        return False

    async def _tamper(self, tick: int, rng: random.Random) -> None:
        """The attacker with database access: one UPDATE of an open sweep not changed yet, to send its
        funds elsewhere (see TAMPERINGS). The sweeper must refuse to sign it
        (ctrip_core/services/sweeps/signing.py); invariant 4 checks from the chain that nothing went anywhere else."""
        rows = await self._rows("SELECT id, kind, derivation_index FROM sweeps WHERE state IN ('pending', 'submitted') "
                                "ORDER BY id")
        rows = [r for r in rows if r["id"] not in self.tampered]
        if not rows:
            return
        row = rng.choice(rows)
        what = rng.choice(TAMPERINGS if row["kind"] != "gas_topup" else TAMPERINGS[:4])  # see TAMPERINGS
        # Another index of the wallet, never issued (its address has no sweep: the row stays unique).
        other = max(self.deposits) - len(self.tampered)
        token = self.attacker if row["kind"] == "token" else self.token  # a native sweep made to name a token
        sql = {"to_address": "to_address = :attacker", "token_address": "token_address = :token",
               "derivation_index": "derivation_index = :other, from_address = :other_address",
               "from_address": "from_address = :stranger",
               "amount_up": "amount_base_units = amount_base_units * 10",
               "amount_down": "amount_base_units = floor(amount_base_units / 2)"}[what]
        try:
            async with self.rt.sessions() as s, s.begin():
                await s.execute(text("SET LOCAL lock_timeout = '500ms'"))  # the sweeper holds it: another time
                await s.execute(text(f"UPDATE sweeps SET {sql} WHERE id = :id"),
                                {"id": row["id"], "attacker": self.attacker, "token": token, "other": other,
                                 "stranger": self.net.new_payer(rng).address,  # a fresh one each time: the row stays unique
                                 "other_address": self.deposits[other]})
        except Exception as exc:  # noqa: BLE001 - a lock timeout: the row is not changed
            self.note(tick, f"tamper {what} of sweep {row['id']}: not done ({type(exc).__name__})")
            return
        self.tampered.add(row["id"])
        self.note(tick, f"tampered with {row['kind']} sweep {row['id']}: {what}")

    async def _create(self, tick: int, planned: PlannedPayment) -> None:
        decimals = 18 if planned.asset == "ETH" else TOKEN_DECIMALS
        async with self.rt.sessions() as s, s.begin():
            p = await create_payment(self.rt, self.merchant_id, PaymentRequest(
                "anvil", planned.asset, format_amount(planned.units, decimals), order_id=f"p{planned.number}",
                expires_in=planned.expires_in), within=s)
        created, expires = p.created_at.timestamp(), p.expires_at.timestamp()
        issued = Issued(planned, p.id, p.address, p.token_address, created, expires, self.payers[planned.number])
        issued.due = sorted((((created if pay.anchor == "created" else expires) + pay.offset_s, pay)
                             for pay in planned.pays), key=lambda due: due[0])
        self.issued.append(issued)
        self.by_number[planned.number] = issued
        self.note(tick, f"created p{planned.number} {p.id} at {p.address}, expires {p.expires_at:%H:%M:%S.%f}")

    def _send(self, issued: Issued, pay: Pay) -> str:
        """Send `pay` for `issued` (not mined); → the transaction hash."""
        payer, to, fwd = issued.payer, issued.address, self.forwarders[0]

        def call(contract: str, signature: str, types: list[str], args: list, value: int) -> str:
            return payer.call(contract, signature, types, args, value=value, gas=FORWARDER_CALL_GAS)

        if pay.via == "wallet":
            return payer.native(to, pay.units) if issued.token is None else payer.token(issued.token, to, pay.units)
        if pay.via == "forward":
            return call(fwd, "forward(address)", ["address"], [to], pay.units)
        if pay.via == "forward_via":
            return call(fwd, "forwardVia(address,address)", ["address", "address"],
                        [self.forwarders[1], to], pay.units)
        if pay.via == "batch":
            partner = self.by_number[pay.partner]
            partner.txs.append(tx := call(fwd, "forwardBatch(address[],uint256[])",
                                          ["address[]", "uint256[]"], [[to, partner.address],
                                                                       [pay.units, pay.partner_units]],
                                          pay.units + pay.partner_units))
            return tx
        if pay.via == "reverted_subcall":
            return call(fwd, "forwardThenRevert(address)", ["address"], [to], pay.units)
        return call(fwd, "sendAndRevert(address)", ["address"], [to], pay.units)

    def _pay_due(self, tick: int) -> None:
        now = time.time()
        for issued in self.issued:
            while issued.due and issued.due[0][0] <= now:
                _, pay = issued.due.pop(0)
                tx = self._send(issued, pay)
                issued.txs.append(tx)
                self.note(tick, f"paid p{issued.planned.number} {pay} ({now - issued.expires:+.1f}s from expiry) "
                                f"in {tx}")

    async def chaos(self) -> None:
        start = time.monotonic()
        faults = {t: [f for f in self.schedule.faults if f.tick == t] for t in range(self.duration_s)}
        creates = {t: [p for p in self.schedule.payments if p.tick == t] for t in range(self.duration_s)}
        ends: list[tuple[int, callable, str]] = []
        for tick in range(self.duration_s):
            pause = start + tick * TICK_S - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)  # pacing the chain's clock, not waiting for anything
            for at, undo, what in [e for e in ends if e[0] <= tick]:
                undo()
                ends.remove((at, undo, what))
                self.note(tick, what)
            for at, name in [r for r in self.restarts if r[0] <= tick]:
                self.gateway.start(name)
                self.restarts.remove((at, name))
                self.note(tick, f"restarted {name}")
            for fault in faults[tick]:
                self._apply_fault(tick, fault, ends)
            for planned in creates[tick]:
                await self._create(tick, planned)
            self.tampering = [(until, rng) for until, rng in self.tampering if until > tick]
            for _, rng in self.tampering:
                await self._tamper(tick, rng)
            self._pay_due(tick)
            if not self._stalled(tick):
                self.net.mine()
        # Payments whose pay time falls after the chaos phase are paid during settling, faults off.

    # -- settling ----------------------------------------------------------------------------------
    async def _unsettled(self) -> list[str]:
        """What the gateway still has to do, from its database and the chain; [] when done."""
        if any(i.due for i in self.issued):
            return ["payments still to be paid"]
        last_expiry = max(i.expires for i in self.issued)
        if self.net.last_ts <= last_expiry + 1:
            return ["chain not past the last expires_at"]
        reasons = []
        checks = {
            "open payments": "SELECT count(*) FROM payments WHERE status IN ('pending', 'detected')",
            "unconfirmed transfers": "SELECT count(*) FROM transfers WHERE state = 'seen'",
            "open sweeps": "SELECT count(*) FROM sweeps WHERE state IN ('pending', 'submitted')",
            "undispatched events": "SELECT count(*) FROM events WHERE dispatched_at IS NULL",
            "pending deliveries": "SELECT count(*) FROM deliveries WHERE state = 'pending'",
            "cursor behind head": f"SELECT count(*) FROM chain_cursors WHERE last_block < {self.net.head() - 2}",
        }
        for what, sql in checks.items():
            if await self._scalar(sql):
                reasons.append(what)
        if not reasons:
            for i in self.issued:
                native, tokens = self._balances(i.address)
                if tokens or native > self._dust():
                    reasons.append(f"deposit {i.address} holds {native} wei, {tokens} tokens")
                    break
        return reasons

    def _dust(self) -> int:
        base = int(self.net.block("latest").get("baseFeePerGas") or "0x0", 16)
        return 100_000 * (2 * max(base, 60 * 10**9) + 2 * 10**9)

    def _balances(self, address: str) -> tuple[int, int]:
        from ctrip_core.devnet.token import _calldata

        native = int(self.net.rpc("eth_getBalance", address, "latest"), 16)
        data = _calldata("balanceOf(address)", ["address"], [address])
        tokens = int(self.net.rpc("eth_call", {"to": self.token, "data": data}, "latest"), 16)
        return native, tokens

    async def settle(self) -> bool:
        for proxy in (self.primary, self.fallback):
            proxy.clear()
        self.gateway.ensure_all()
        self.note("settle", "faults off, every process running")
        deadline = time.monotonic() + self.settle_s
        quiet, reasons = 0, []
        while time.monotonic() < deadline:
            await asyncio.sleep(TICK_S)
            self._pay_due("settle")
            self.net.mine()
            self.gateway.ensure_all()
            reasons = await self._unsettled()
            quiet = quiet + 1 if not reasons else 0
            if quiet >= 3:  # three quiet blocks in a row: nothing was about to happen
                return True
        self.note("settle", f"deadline passed ({self.settle_s:.0f}s), still: {', '.join(reasons)}")
        await self._note_what_waits()
        return False

    async def _note_what_waits(self) -> None:
        """For a run that did not settle: the open sweeps as the database has them, and what the node's
        pool and latest block say of each gateway sender (the nonce it is at, what waits)."""
        for row in await self._rows("SELECT id, kind, state, derivation_index, from_address, nonce, tx_hash, "
                                    "replaced_tx_hashes, error FROM sweeps WHERE state IN ('pending', 'submitted') "
                                    "ORDER BY created_at"):
            self.note("settle", "open sweep " + " ".join(f"{k}={v}" for k, v in row.items()))
        base = int(self.net.block("latest").get("baseFeePerGas") or "0x0", 16)
        self.note("settle", f"base fee {base}; gateway transactions in the pool: {self._gateway_pool()}")
        queued = self.net.rpc("txpool_content")["queued"]  # behind a nonce gap (eth_getTransactionByHash sees them)
        self.note("settle", "queued behind a nonce gap: " + str({
            (to_checksum_address(sender), int(nonce)): tx["hash"] for sender, txs in queued.items()
            if to_checksum_address(sender) in self.net.gateway_addresses for nonce, tx in txs.items()}))
        for sender in sorted(self.net.gateway_addresses):
            nonce = int(self.net.rpc("eth_getTransactionCount", sender, "latest"), 16)
            if nonce:
                self.note("settle", f"{sender} at nonce {nonce}")

    # -- invariants --------------------------------------------------------------------------------
    async def check(self, settled: bool) -> list[Violation]:
        self.gateway.stop()  # nothing changes the record while it is read
        head = self.net.head()
        watched = {i.address for i in self.issued}
        gateway = self.net.gateway_addresses
        view = read_chain(self.net, self.first_block, head, watched, self.token, gateway)
        internal = sum(t.log_index <= FIRST_INTERNAL for t in view.transfers)
        self.note("check", f"the chain holds {len(view.transfers)} transfers to deposit addresses, {internal} of "
                           f"them internal (from call traces); the gateway signed {len(view.gateway_txs)} transactions"
                           + (f", {len({t['tx']['hash'] for t in view.gateway_txs} & self.swapped_back)} of them "
                              f"an earlier version put back by stale_version" if self.swapped_back else ""))
        violations = [] if settled else [Violation("settle", f"did not settle: {self.log[-1]}")]

        indexes = await self._rows("SELECT id, derivation_index, address FROM payments")
        for row in indexes:
            if self.deposits.get(row["derivation_index"]) != row["address"]:
                violations.append(Violation("4", f"payment {row['id']}'s address {row['address']} is not deposit "
                                                 f"{row['derivation_index']} of the gateway's wallet"))

        recorded = await self._rows(
            "SELECT tx_hash, log_index, state, block_hash, amount_base_units AS amount, to_address, from_address, source "
            "FROM transfers")
        for r in recorded:
            r["amount"] = int(r["amount"])
        violations += check_transfers(view, recorded, gateway)

        plans = {i.id: i.planned.plan for i in self.issued}
        dropped = {tx_hash for _, tx_hash in self.net.dropped}
        reorged_out = {i.id for i in self.issued if dropped & set(i.txs)}
        payments = await self._rows(
            "SELECT id, status, asset, token_address, address, amount_base_units AS amount, "
            "amount_received_base_units AS received, expires_at, late FROM payments")
        for p in payments:
            p["amount"], p["received"], p["plan"] = int(p["amount"]), int(p["received"]), plans.get(p["id"], "?")
            p["reorged_out"] = p["id"] in reorged_out
        violations += check_payments(view, payments)

        events: dict[str, list[dict]] = {}
        for e in await self._rows("SELECT id, payment_id, type FROM events ORDER BY seq"):
            events.setdefault(e["payment_id"], []).append(e)
        hook = Webhook(self.secret)
        with self.receiver._lock:
            delivered = list(self.receiver.requests)
        violations += check_events(payments, events, delivered, lambda body, headers: hook.verify(body, headers),
                                   sweeps_seen(view, self.net.dropped, self.treasury, self.token))

        signed = [r["raw_tx"] for r in await self._rows("SELECT raw_tx FROM sweep_transactions WHERE raw_tx IS NOT NULL")]
        violations += check_signed(signed, treasury=self.treasury, token=self.token, deposits=watched, tank=self.tank,
                                   gateway=gateway)
        done = await self._rows("SELECT id, kind, tx_hash, amount_base_units AS amount FROM sweeps "
                                "WHERE state = 'done' AND kind IN ('native', 'token')")
        for r in done:
            r["amount"] = int(r["amount"])
        violations += check_money(view, treasury=self.treasury, token=self.token, deposits=watched, tank=self.tank,
                                  balances={a: self._balances(a) for a in watched},
                                  treasury_balances=self._balances(self.treasury), done_sweeps=done,
                                  attacker=(self.attacker, self._balances(self.attacker)),
                                  tampered=frozenset(self.tampered))
        return violations


async def run_soak(seed: int, duration_s: int, workdir: Path, *, settle_s: float = 150.0) -> SoakResult:
    soak = Soak(seed, duration_s, workdir, settle_s=settle_s)
    timings: dict[str, float] = {}
    mark = time.monotonic()
    try:
        await soak.setup()
        timings["setup"], mark = time.monotonic() - mark, time.monotonic()
        await soak.chaos()
        timings["chaos"], mark = time.monotonic() - mark, time.monotonic()
        settled = await soak.settle()
        timings["settle"], mark = time.monotonic() - mark, time.monotonic()
        logs = soak.gateway.logs()
        violations = await soak.check(settled)
        timings["check"] = time.monotonic() - mark
        return SoakResult(seed, duration_s, soak.schedule, soak.log, violations, settled, timings, logs)
    finally:
        await soak.teardown()
