"""The balance auditor: every deposit address's balances on chain against what the ledger says.

One pass per chain, under the chain's `reconcile` lock (one auditor at a time), never the scan
lock: it reads the database in short read-only statements and the chain outside any transaction,
and writes only to credit what it found, in one short transaction per page. The audit block B is
the ripe height (head − confirmations) or the scanner's cursor if that is lower, so every
transfer the scanner could have recorded up to B is in the ledger.

Per page of issued addresses (`reconcile.chunk` × CALLS_PER_BATCH, in derivation order):
1. the ledger side (`ledger.ledger_at`);
2. native and every configured token balance at B, read through `BalanceReader` (chains/balances.py):
   one eth_call per `reconcile.chunk` addresses, a few per JSON-RPC batch, from a node that has B;
3. each difference: a shortfall (the chain holds more) is looked for on chain
   (`explain`: token Transfer logs; for the coin, the blocks again with their traces); what a found transfer explains is credited as a transfer with
   `source='reconcile'` through the scanner's own recording and `payment_state.settle` (events as
   the lifecycle says; the confirmer confirms it and the sweeper sweeps it as any other). What no
   found transfer explains, and every excess (the chain holds less), is reported, never credited.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ctrip_core.chains import EVMChain
from ctrip_core.chains.balances import CALLS_PER_BATCH, balances_at
from ctrip_core.db.models import ChainCursor, Payment, Transfer
from ctrip_core.matching import ObservedTransfer
from ctrip_core.runtime import Runtime
from ctrip_core.services.watching.chain_lock import held_for_pass
from ctrip_core.services.watching.confirming import ripe_height
from ctrip_core.services.reconcile.explain import missed_native_transfers, missed_token_transfers
from ctrip_core.services.reconcile.ledger import Key, ledger_at
from ctrip_core.services.watching.scanning import record_found
from ctrip_core.services.sweeps.signing import own_transactions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Discrepancy:
    """One (address, asset) whose balance at the audit block is not what the ledger says."""

    chain: str
    address: str
    asset: str
    ledger: int
    on_chain: int

    @property
    def difference(self) -> int:
        return self.on_chain - self.ledger

    @property
    def kind(self) -> str:
        """`shortfall`: the chain holds more than recorded (unrecorded funds); `excess`: less."""
        return "shortfall" if self.difference > 0 else "excess"

    def line(self) -> str:
        return (f"{self.chain} {self.address} {self.asset} ledger {self.ledger} chain {self.on_chain} "
                f"difference {self.difference:+d} ({self.kind}, unexplained)")


@dataclass
class ReconcileReport:
    chain: str
    busy: bool = False
    block: int | None = None
    addresses: int = 0
    #: Addresses skipped this pass: a sweep of theirs is pending or submitted.
    mid_sweep: int = 0
    #: Addresses skipped this pass: a sweep's receipt is not known yet on any node.
    not_known_yet: int = 0
    #: "tx_hash:log_index" of each transfer credited (source reconcile).
    credited: list[str] = field(default_factory=list)
    unexplained: list[Discrepancy] = field(default_factory=list)

    def count(self, kind: str) -> int:
        return sum(1 for d in self.unexplained if d.kind == kind)


async def audit_block(runtime: Runtime, chain: EVMChain) -> int | None:
    """The ripe height, or the scanner's cursor when lower; None before the scanner has started."""
    async with runtime.read_sessions() as session:
        cursor = await session.get(ChainCursor, chain.config.name)
    if cursor is None or cursor.last_block < 0:
        return None
    return min(await ripe_height(chain), cursor.last_block)


async def _pages(runtime: Runtime, size: int):
    """(derivation index, address, created_at) of every issued address, `size` at a time: an address is
    the same on every chain, and what landed on this one for another chain's payment (misdirected, or an
    equivalent asset or an open payment's option, which count) is this chain's to find."""
    after = -1
    while True:
        async with runtime.read_sessions() as session:
            rows = (await session.execute(
                select(Payment.derivation_index, Payment.address, Payment.created_at)
                .where(Payment.derivation_index > after)
                .order_by(Payment.derivation_index).limit(size))).all()
        if not rows:
            return
        after = rows[-1][0]
        yield [tuple(row) for row in rows]


def _asset(chain: EVMChain, token: str | None) -> str:
    if token is None:
        return chain.config.native.symbol
    return next(t.symbol for t in chain.config.tokens if t.address == token)


def _within_shortfalls(chain: str, found: list[ObservedTransfer], shortfalls: dict[Key, int]) -> list[ObservedTransfer]:
    """The found transfers of each (address, asset) whose sum fits its shortfall; none of one whose
    sum exceeds it (more found than missing means a key the ledger already holds under another
    spelling, or a node's invention: reported, never credited)."""
    by_key: dict[Key, list[ObservedTransfer]] = {}
    for t in found:
        by_key.setdefault((t.to_address, t.token_address), []).append(t)
    kept = []
    for key, transfers in by_key.items():
        total = sum(t.amount_base_units for t in transfers)
        if total <= shortfalls.get(key, 0):
            kept += transfers
        else:
            log.error("reconcile %s: %d found transfers of %s to %s add up to %d, more than the shortfall %d; "
                      "none credited", chain, len(transfers), key[1] or "native coin", key[0], total,
                      shortfalls.get(key, 0))
    return kept


async def _credit(runtime: Runtime, chain: EVMChain, found: list[ObservedTransfer], shortfalls: dict[Key, int],
                  block_times: dict[int, datetime]) -> list[ObservedTransfer]:
    """Record the found transfers the ledger lacks (one short transaction); → the ones recorded now.

    Lacking means: no live transfer of the same key, and none of the same money either (the same
    transaction, recipient, asset and amount under another log_index: a node that numbers call
    frames differently must not make one payment two)."""
    name = chain.config.name
    async with runtime.sessions() as session, session.begin():
        hashes = sorted({t.tx_hash for t in found})
        live = list(await session.scalars(select(Transfer).where(
            Transfer.chain == name, Transfer.tx_hash.in_(hashes), Transfer.state != "orphaned")))
        keys = {(t.tx_hash, t.log_index) for t in live}
        money = {(t.tx_hash, t.to_address, t.token_address, t.amount_base_units) for t in live}
        ours = await own_transactions(session, name, hashes)  # gas top-ups pay nothing: not part of the sum
        new = [replace(t, source="reconcile") for t in found if (t.tx_hash, t.log_index) not in keys
               and (t.tx_hash, t.to_address, t.token_address, t.amount_base_units) not in money
               and t.tx_hash not in ours]
        new = _within_shortfalls(name, new, shortfalls)
        recorded = await record_found(session, runtime.equivalence, new, block_times) if new else []
    return recorded


async def _explain(runtime: Runtime, chain: EVMChain, shortfalls: dict[Key, datetime], amounts: dict[Key, int],
                   block: int, report: ReconcileReport) -> dict[Key, int]:
    """Credit what found transfers explain; → (address, asset) → amount credited."""
    found, block_times = await missed_token_transfers(runtime, chain, shortfalls, block)
    native, native_times = await missed_native_transfers(runtime, chain, shortfalls, block)
    found, block_times = found + native, {**block_times, **native_times}
    if not found:
        return {}
    try:
        new = await _credit(runtime, chain, found, amounts, block_times)
    except IntegrityError:  # the scanner recorded one of them meanwhile: the next pass sees it in the ledger
        log.info("reconcile %s: a found transfer was recorded meanwhile; credited next pass", chain.config.name)
        return {}
    credited: dict[Key, int] = {}
    for t in new:
        credited[(t.to_address, t.token_address)] = credited.get((t.to_address, t.token_address), 0) + \
            t.amount_base_units
        report.credited.append(f"{t.tx_hash}:{t.log_index}")
        log.warning("reconcile %s: credited %s %s to %s from %s:%s (block %d), which the scanner had not recorded",
                    chain.config.name, t.amount_base_units, t.asset, t.to_address, t.tx_hash, t.log_index,
                    t.block_number)
    return credited


async def _page(runtime: Runtime, chain: EVMChain, rows: Sequence[tuple[int, str, datetime]], block: int,
                report: ReconcileReport) -> None:
    name = chain.config.name
    tokens = [t.address for t in chain.config.tokens]
    addresses = [address for _, address, _ in rows]
    created = {address: at for _, address, at in rows}
    ledger = await ledger_at(runtime, chain, (rows[0][0], rows[-1][0]), addresses, block)
    on_chain = await balances_at(chain, addresses, tokens, block, chunk=runtime.settings.reconcile.chunk)
    skipped = ledger.mid_sweep | ledger.not_known_yet
    report.addresses += len(addresses)
    report.mid_sweep += len(ledger.mid_sweep & set(addresses))
    report.not_known_yet += len((ledger.not_known_yet - ledger.mid_sweep) & set(addresses))
    differences = {key: value - ledger.expected.get(key, 0) for key, value in on_chain.items()
                   if key[0] not in skipped and value != ledger.expected.get(key, 0)}
    shortfalls = {key: created[key[0]] for key, diff in differences.items() if diff > 0}
    amounts = {key: diff for key, diff in differences.items() if diff > 0}
    credited = await _explain(runtime, chain, shortfalls, amounts, block, report) if shortfalls else {}
    for (address, token), diff in sorted(differences.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        expected = ledger.expected.get((address, token), 0) + credited.get((address, token), 0)
        if on_chain[(address, token)] != expected:
            found = Discrepancy(name, address, _asset(chain, token), expected, on_chain[(address, token)])
            report.unexplained.append(found)
            log.error("reconcile: %s", found.line())


async def reconcile_chain(runtime: Runtime, chain_name: str) -> ReconcileReport:
    """One audit pass over every issued address of `chain_name` (see the module docstring)."""
    chain = runtime.chains[chain_name]
    report = ReconcileReport(chain=chain_name)
    async with held_for_pass(runtime.engine, "reconcile", chain_name) as acquired:
        if not acquired:
            report.busy = True
            return report
        report.block = await audit_block(runtime, chain)
        if report.block is None:
            return report
        async for rows in _pages(runtime, runtime.settings.reconcile.chunk * CALLS_PER_BATCH):
            await _page(runtime, chain, rows, report.block, report)
    return report
