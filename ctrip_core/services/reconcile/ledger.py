"""What the ledger says each deposit address holds at the audit block (the balance auditor's left side).

For deposit address A at audit block B (docs/reconcile.md gives the same formula):

    native(A)   = Σ live native transfers to A mined ≤ B
                + Σ gas top-ups to A mined ≤ B with status 1      (amount of the version mined)
                − Σ native sweeps of A mined ≤ B with status 1     (amount of the version mined)
                − Σ gas of every transaction A sent mined ≤ B      (gas used × effective gas price,
                                                                    reverted ones included)
    token(A, T) = Σ live T transfers to A mined ≤ B
                − Σ T sweeps of A mined ≤ B with status 1          (amount of the version mined)

"Live" is every state but `orphaned`. "Mined ≤ B" comes from receipts asked now: a done sweep's
recorded version (`sweeps.tx_hash`, adopted from `sweep_transactions` when an earlier version was
the one mined), and for a failed sweep every version it ever signed (a refused replacement may
leave an earlier version mined). A done gas top-up needs no receipt (the tank paid its gas): its
`confirmed_block` and amount suffice. An address with a sweep (or a top-up to it) still pending or
submitted is mid-sweep and skipped this pass; one whose done sweep has no receipt yet on any node
is "not known yet", skipped too, never reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import or_, select

from ctrip_core.chains import EVMChain
from ctrip_core.chains.types import Receipt
from ctrip_core.db.models import OPEN_SWEEP_STATES, Payment, Sweep, SweepTransaction, Transfer
from ctrip_core.runtime import Runtime
from ctrip_core.services.sweeps.tracking import REVERTED

Key = tuple[str, str | None]  # (address, token or None for native)


@dataclass
class Ledger:
    """Expected balances of a page of addresses, and the addresses it cannot judge this pass."""

    expected: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    mid_sweep: set[str] = field(default_factory=set)
    not_known_yet: set[str] = field(default_factory=set)


@dataclass
class _Rows:
    transfers: list[tuple[str, str | None, int]]
    sweeps: list[Sweep]
    versions: dict[str, list[SweepTransaction]]


async def _read_rows(runtime: Runtime, chain: str, indexes: tuple[int, int], addresses: Sequence[str],
                     block: int) -> _Rows:
    """One short read-only look at the database: no lock, no transaction left open. Transfers are
    found through their payments' derivation-index range (an index range scan, no list of ids)."""
    first, last = indexes
    async with runtime.read_sessions() as session:
        transfers = [(to, token, int(amount)) for to, token, amount in (await session.execute(
            select(Transfer.to_address, Transfer.token_address, Transfer.amount_base_units)
            .join(Payment, Payment.id == Transfer.payment_id).where(
                Payment.derivation_index.between(first, last), Transfer.chain == chain,
                Transfer.state != "orphaned", Transfer.block_number <= block))).all()]
        sweeps = list(await session.scalars(select(Sweep).where(
            Sweep.chain == chain, or_(Sweep.from_address.in_(addresses),
                                      (Sweep.kind == "gas_topup") & Sweep.to_address.in_(addresses)))))
        failed = [s.id for s in sweeps if s.state == "failed"]
        versions: dict[str, list[SweepTransaction]] = defaultdict(list)
        if failed:
            for v in await session.scalars(select(SweepTransaction).where(SweepTransaction.sweep_id.in_(failed))):
                versions[v.sweep_id].append(v)
    return _Rows(transfers, sweeps, versions)


def _hashes_to_ask(sweep: Sweep, versions: list[SweepTransaction]) -> list[str]:
    if sweep.state == "done":
        return [] if sweep.kind == "gas_topup" or not sweep.tx_hash else [sweep.tx_hash]
    hashes = {v.tx_hash for v in versions} | {h for h in (sweep.tx_hash, *(sweep.replaced_tx_hashes or [])) if h}
    return sorted(hashes)


def _gas(receipt: Receipt, sweep: Sweep, version: SweepTransaction | None) -> int | None:
    """What the mined transaction paid for gas (`Receipt.fee`, at the mined version's gas price)."""
    return receipt.fee(version.gas_price if version is not None and version.gas_price is not None
                       else sweep.gas_price)


def _account(ledger: Ledger, sweep: Sweep, receipt: Receipt, amount: int, gas: int | None) -> None:
    """Apply one mined transaction of `sweep` (at or below the audit block) to the ledger."""
    if sweep.kind == "gas_topup":
        if receipt.status == 1:
            ledger.expected[(sweep.to_address, None)] += amount
        return
    if gas is None:
        ledger.not_known_yet.add(sweep.from_address)
        return
    ledger.expected[(sweep.from_address, None)] -= gas
    if receipt.status == 1:
        ledger.expected[(sweep.from_address, sweep.token_address if sweep.kind == "token" else None)] -= amount


async def ledger_at(runtime: Runtime, chain: EVMChain, indexes: tuple[int, int], addresses: Sequence[str],
                    block: int) -> Ledger:
    """The ledger side of every (address, asset) of a page, at `block` (see the module docstring): the
    page is the payments of derivation indexes `indexes` (first, last), whose `addresses` are given."""
    name = chain.config.name
    rows = await _read_rows(runtime, name, indexes, addresses, block)
    ledger = Ledger()
    for to, token, amount in rows.transfers:
        ledger.expected[(to, token)] += amount
    for sweep in rows.sweeps:
        if sweep.state in OPEN_SWEEP_STATES:
            ledger.mid_sweep.add(sweep.to_address if sweep.kind == "gas_topup" else sweep.from_address)
    judged = [s for s in rows.sweeps if s.state not in OPEN_SWEEP_STATES]
    wanted = sorted({h for s in judged for h in _hashes_to_ask(s, rows.versions[s.id])})
    receipts = dict(zip(wanted, await chain.get_receipts(wanted))) if wanted else {}
    for sweep in judged:
        versions = {v.tx_hash: v for v in rows.versions[sweep.id]}
        if sweep.state == "done" and sweep.kind == "gas_topup":
            if sweep.confirmed_block is not None and sweep.confirmed_block <= block:
                ledger.expected[(sweep.to_address, None)] += sweep.amount_base_units
            continue
        if sweep.state == "done" and receipts.get(sweep.tx_hash) is None:
            ledger.not_known_yet.add(sweep.from_address)  # mined, but no node answers its receipt yet
            continue
        asked = _hashes_to_ask(sweep, rows.versions[sweep.id])
        if sweep.error == REVERTED and not any(receipts.get(h) for h in asked):
            ledger.not_known_yet.add(sweep.from_address)  # it was mined (it reverted): its gas is not known yet
            continue
        for tx_hash in asked:
            receipt = receipts.get(tx_hash)
            if receipt is None or receipt.block_number > block:
                continue  # never mined (a refused broadcast), or mined after the audit block
            version = versions.get(tx_hash)
            amount = sweep.amount_base_units if sweep.state == "done" or version is None or \
                version.amount_base_units is None else version.amount_base_units
            _account(ledger, sweep, receipt, amount, _gas(receipt, sweep, version))
    return ledger
