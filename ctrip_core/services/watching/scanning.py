"""Scanning a chain: from the cursor to the head in bounded steps, exactly once, reorg-aware.

Each step is one database transaction holding the chain's scan lock: read the cursor, fetch the
next blocks (one JSON-RPC batch) and the configured tokens' Transfer logs, check that the new
blocks extend the blocks already scanned, match transfers, record them, settle the payments they
touch, and advance the cursor. Either all of it commits or none of it does, so a crash (even
kill -9) between steps loses and doubles nothing, and a failed RPC call never moves the cursor.
Blocks and logs are asked at the same time, and `scan_chain` asks for the next range while a step
records the current one (`_Pipeline`): the node's work overlaps the database's.

Matching is two-phase: the matchers extract every candidate transfer of the range, then one
indexed query finds which candidate addresses are deposit addresses (of any payment, any status:
late funds are recorded too). The cost follows the chain's activity, not the number of payments,
and the lookup runs after the blocks are fetched, so every address a payer could have paid was
already committed and visible.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.chains import EVMChain
from ctrip_core.chains.types import Block, Log, MalformedAnswer
from ctrip_core.db.models import ChainCursor, Payment, RecentBlock, Transfer
from ctrip_core.db.types import utcnow
from ctrip_core.matching import ObservedTransfer
from ctrip_core.runtime import Runtime
from ctrip_core.services.watching.chain_lock import try_chain_lock
from ctrip_core.services.outbox.events import record_payment_event
from ctrip_core.services.payments.equivalence import Equivalence
from ctrip_core.services.payments.quoting import credit_of_option, option_for
from ctrip_core.services.payments.payment_state import (EXPIRY_NOT_JUDGED, FINAL_STATUSES, OPEN_STATUSES,
                                                        mark_late, settle)
from ctrip_core.services.sweeps.signing import own_transactions
from ctrip_core.services.watching.expiry import cursor_times, earliest, judging_chains
from ctrip_core.services.watching.transfers import transfers_of

log = logging.getLogger(__name__)

#: Blocks per step (one JSON-RPC batch). Bounded so a step's transaction stays short.
DEFAULT_STEP_BLOCKS = 100
#: Recent block hashes kept per chain for reorg detection.
REORG_WINDOW = 128
IN_CHUNK = 500


@dataclass
class StepResult:
    busy: bool = False
    from_block: int | None = None
    to_block: int | None = None
    transfers: int = 0
    reorg_to: int | None = None

    @property
    def advanced(self) -> bool:
        return self.to_block is not None


async def _start_block(chain: EVMChain) -> int:
    """A new chain starts at `start_block`, else at the head: never at block 0 by accident."""
    if chain.config.start_block is not None:
        return chain.config.start_block
    return await chain.head()


async def _init_cursor(session: AsyncSession, chain: EVMChain) -> None:
    start = await _start_block(chain)
    cursor = ChainCursor(chain=chain.config.name, last_block=start - 1)
    session.add(cursor)
    if start > 0:
        (block,) = await chain.get_blocks([start - 1], full=False)
        session.add(RecentBlock(chain=chain.config.name, number=block.number, hash=block.hash,
                                parent_hash=block.parent_hash))
    log.info("chain %s: scanning starts at block %d", chain.config.name, start)


def _check_continuity(blocks: Sequence[Block], logs: Sequence[Log]) -> None:
    """The batch must be one chain of blocks, and every log must come from one of them."""
    for parent, child in zip(blocks, blocks[1:]):
        if child.parent_hash != parent.hash:
            raise MalformedAnswer(f"block {child.number} does not extend {parent.number}: node reorged mid-fetch")
    hashes = {b.number: b.hash for b in blocks}
    for entry in logs:
        if hashes.get(entry.block_number) != entry.block_hash:
            raise MalformedAnswer(f"log of block {entry.block_number} is from another fork than its block")


async def _all(*awaitables):
    """`asyncio.gather`, but when one fails the others are cancelled: a failed step leaves no request running."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def read_blocks(runtime: Runtime, chain: EVMChain, numbers: list[int]) -> list[Block]:
    """Blocks as the matchers want them: with full transactions, and traced where a matcher wants
    internal calls and the chain has traces (checked against the blocks' transactions, so after them)."""
    traced = chain.traces.enabled and any(m.wants_traces(chain.config) for m in runtime.matchers)
    full = traced or any(m.wants_full_blocks(chain.config) for m in runtime.matchers)
    blocks = await chain.get_blocks(numbers, full=full)
    return await chain.with_traces(blocks) if traced else blocks


async def successful(chain: EVMChain, matched: list[ObservedTransfer]) -> list[ObservedTransfer]:
    """The transfers that count: those needing a receipt status (top-level native) only with status 1."""
    needs_status = sorted({t.tx_hash for t in matched if t.needs_receipt_status})
    if not needs_status:
        return matched
    receipts = dict(zip(needs_status, await chain.get_receipts(needs_status, must_exist=True)))
    return [t for t in matched if not t.needs_receipt_status or receipts[t.tx_hash].status == 1]


async def _fetch(runtime: Runtime, chain: EVMChain, numbers: list[int]) -> tuple[list[Block], list[Log]]:
    """The range's blocks (traced where a matcher wants it) and logs, asked at the same time: the
    step waits for the slowest, not the sum.

    Logs are anchored on the last block of each part they were asked in (see `get_logs_anchored`), so
    logs from a node that lacks part of the range, or follows another fork, are never taken for the
    range's.
    """
    filters = [f for m in runtime.matchers if (f := m.log_filter(chain.config)) is not None]
    blocks, *answers = await _all(read_blocks(runtime, chain, numbers),
                                  *(chain.get_logs_anchored(numbers[0], numbers[-1], f.addresses, f.topics)
                                    for f in filters))
    logs: list[Log] = []
    by_number = {block.number: block.hash for block in blocks}
    for found, anchors in answers:
        for number, anchor in anchors.items():
            if anchor != by_number.get(number):
                raise MalformedAnswer(f"logs up to block {number} are from another fork than its block")
        logs += found
    _check_continuity(blocks, logs)
    return blocks, logs


class _Pipeline:
    """The next range's fetch, started while a step records the current one (`scan_chain` only).

    The node's work and the network wait for range n+1 then overlap the database work of range n.
    A prefetched range is used only by the step whose cursor it continues, and only up to that
    step's head; its fault, if any, is raised by that step, so it moves no cursor either.
    """

    def __init__(self) -> None:
        self._next: tuple[list[int], asyncio.Task] | None = None

    def start(self, runtime: Runtime, chain: EVMChain, numbers: list[int]) -> None:
        self.drop()
        task = asyncio.ensure_future(_fetch(runtime, chain, numbers))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # dropped: its fault is moot
        self._next = (numbers, task)

    async def fetch(self, runtime: Runtime, chain: EVMChain, first: int, last: int):
        """→ (numbers, (blocks, logs)) of `first`..`last`, or of the prefetched start of it."""
        if self._next is not None and self._next[0][0] == first and self._next[0][-1] <= last:
            numbers, task = self._next
            self._next = None
            return numbers, await task
        self.drop()
        numbers = list(range(first, last + 1))
        return numbers, await _fetch(runtime, chain, numbers)

    def drop(self) -> None:
        if self._next is not None:
            self._next[1].cancel()
            self._next = None


async def _deposit_ids(session: AsyncSession, addresses: set[str]) -> dict[str, str]:
    """address → payment id for the candidate addresses that are deposit addresses (no lock), of this
    chain's payments or of another chain's: an address is the same on every EVM chain, and a payer
    who sends on the wrong one must not lose the funds (misdirected: recorded, never counted)."""
    found: dict[str, str] = {}
    ordered = sorted(addresses)
    for start in range(0, len(ordered), IN_CHUNK):
        found.update((await session.execute(select(Payment.address, Payment.id).where(
            Payment.address.in_(ordered[start:start + IN_CHUNK])))).all())
    return found


async def _lock_payments(session: AsyncSession, ids: set[str]) -> dict[str, Payment]:
    """address → payment of `ids`, locked in one global id order, as every confirmer and scanner
    locks them: no deadlock across chains."""
    ordered = sorted(ids)
    found: dict[str, Payment] = {}
    for start in range(0, len(ordered), IN_CHUNK):
        rows = await session.scalars(select(Payment).where(Payment.id.in_(ordered[start:start + IN_CHUNK]))
                                     .order_by(Payment.id).with_for_update())
        found.update({p.address: p for p in rows})
    return found


async def _without_own_sweeps(session: AsyncSession, matched: list[ObservedTransfer]) -> list[ObservedTransfer]:
    """Drop the gateway's own transactions into deposit addresses (gas top-ups, any version): they pay nothing."""
    if not matched:
        return matched
    ours = await own_transactions(session, matched[0].chain, (t.tx_hash for t in matched))
    return [t for t in matched if t.tx_hash not in ours]


async def _match(runtime: Runtime, chain: EVMChain, blocks, logs, session) -> tuple[list[ObservedTransfer], dict]:
    candidates = [t for m in runtime.matchers for t in m.match(chain.config, blocks, logs)]
    if not candidates:
        return [], {}
    deposits = await _deposit_ids(session, {t.to_address for t in candidates})
    matched = await successful(chain, await _without_own_sweeps(
        session, [t for t in candidates if t.to_address in deposits]))  # node reads before any row is locked
    payments = await _lock_payments(session, {deposits[t.to_address] for t in matched})
    return [t for t in matched if t.to_address in payments], payments


async def _known_transfers(session: AsyncSession, chain: str,
                           matched: list[ObservedTransfer]) -> dict[tuple[str, int], Transfer]:
    """(tx_hash, log_index) → transfer already recorded, for the matched transactions: one query, not one each."""
    hashes = sorted({t.tx_hash for t in matched})
    known: dict[tuple[str, int], Transfer] = {}
    for start in range(0, len(hashes), IN_CHUNK):
        rows = await session.scalars(select(Transfer).where(Transfer.chain == chain,
                                                            Transfer.tx_hash.in_(hashes[start:start + IN_CHUNK])))
        known.update({(t.tx_hash, t.log_index): t for t in rows})
    return known


def _record(session: AsyncSession, observed: ObservedTransfer, payment: Payment,
            known: dict[tuple[str, int], Transfer], now: datetime, credit: int | None) -> tuple[Transfer | None, bool]:
    """Insert the transfer crediting `credit` to its payment, or revive it (with what it credited
    when first recorded) when a reorg orphaned it and it reappears.

    Returns (transfer, revived), (None, False) if already recorded and live.
    """
    existing = known.get((observed.tx_hash, observed.log_index))
    if existing is not None:
        if existing.state != "orphaned":
            return None, False
        existing.state, existing.block_number, existing.block_hash = "seen", observed.block_number, observed.block_hash
        existing.updated_at = now
        return existing, True
    transfer = Transfer(chain=observed.chain, tx_hash=observed.tx_hash, log_index=observed.log_index,
                        payment_id=payment.id, block_number=observed.block_number, block_hash=observed.block_hash,
                        from_address=observed.from_address, to_address=observed.to_address, asset=observed.asset,
                        token_address=observed.token_address, amount_base_units=observed.amount_base_units,
                        credited_base_units=credit, source=observed.source, state="seen", late=False, created_at=now, updated_at=now)
    session.add(transfer)
    known[(observed.tx_hash, observed.log_index)] = transfer  # matched twice in one step: recorded once
    return transfer, False


def _credit(equivalence: Equivalence, payment: Payment, observed: ObservedTransfer, block_time: datetime) -> int | None:
    """What `observed` credits `payment` (services/payments/equivalence.py). An equivalent asset on
    another chain credits an open payment only when its block's time is before the payment's expiry:
    whether the payment expired first is its own chain's clock's to say, which this scanner does not
    read, so one arriving after is recorded as misdirected rather than counted late or on time."""
    if payment.options:  # an open payment: its value at the locked rate of the option it was paid in
        option = option_for(payment.options, observed.chain, observed.token_address)
        credit = None if option is None else credit_of_option(option, observed.amount_base_units, payment.decimals)
    else:
        credit = equivalence.credit(payment.chain, payment.token_address, observed.chain, observed.token_address,
                                    observed.amount_base_units)
    if (credit is not None and observed.chain != payment.chain and payment.status in OPEN_STATUSES
            and block_time >= payment.expires_at):
        return None
    return credit


async def _apply(session: AsyncSession, equivalence: Equivalence, matched: list[ObservedTransfer],
                 payments: dict[str, Payment], block_times: dict[int, datetime]) -> int:
    """Record matched transfers and settle each touched payment; returns how many were new or revived.

    A revived transfer (orphaned by a reorg, back in another block of the new fork) is the same
    money, not a new arrival: it is late only if the payment was final before it ever counted,
    which it already says (`late`); a final payment whose amount it restores gets payment.reorged.
    A transfer on another chain than its payment's settles it only when it credits it (an
    equivalent asset); expiry is then left to the payment's own chain (its confirmer's clock).
    """
    new: list[tuple[Transfer, Payment, datetime, bool]] = []
    misdirected: list[Payment] = []
    known = await _known_transfers(session, matched[0].chain, matched) if matched else {}
    now = utcnow()
    for observed in matched:
        payment = payments[observed.to_address]
        credit = _credit(equivalence, payment, observed, block_times[observed.block_number])
        transfer, revived = _record(session, observed, payment, known, now, credit)
        if transfer is None:
            continue
        if payment.chain != observed.chain and transfer.credited_base_units is None:
            if not revived:  # never settles the payment: its own chain's clock and funds do
                misdirected.append(payment)
            continue
        new.append((transfer, payment, block_times[observed.block_number], revived))
    await session.flush()
    for payment in misdirected:
        await record_payment_event(session, payment, "payment.misdirected")
    touched = {p.id: p for _, p, _, _ in new}
    all_transfers = await transfers_of(session, list(touched))
    chain = matched[0].chain if matched else None
    # where other chains pay this chain's payments, each must have scanned past a payment's expiry
    # before it is judged here (an on-time transfer there may not be recorded yet)
    others = equivalence.paying_chains(chain) if chain else frozenset()
    times = await cursor_times(session) if touched and (others or any(p.options for p in touched.values())) else {}

    def others_at(payment: Payment) -> datetime | None:
        """The earliest clock of the other chains that may pay `payment` (None: no other chain)."""
        chains = judging_chains(payment, others) - {chain}
        return earliest(times, chains) if chains else None
    # In block order, each judged by its own block's time against the transfers of earlier blocks,
    # so a later transfer (dust past expires_at) in the same range cannot expire an on-time payment.
    new.sort(key=lambda n: (n[0].block_number, n[0].log_index if n[0].log_index is not None else -1))
    final_before = {p.id for p in touched.values() if p.status in FINAL_STATUSES}
    revived_in = {payment.id for _, payment, _, revived in new if revived}
    for transfer, payment, block_time, revived in new:
        if (payment.status == "pending" and block_time >= payment.expires_at and transfer.chain == payment.chain
                and (others_at(payment) is None or others_at(payment) >= payment.expires_at)):
            # another chain's credited transfers were all mined before expires_at (scanning._credit)
            earlier = [t for t in all_transfers[payment.id]
                       if t.chain != transfer.chain or t.block_number < transfer.block_number]
            await settle(session, payment, earlier, block_time)  # its status as of this block
        if payment.status in FINAL_STATUSES and not (revived and payment.id in final_before):
            await mark_late(session, payment, transfer, utcnow())
    now = utcnow()
    scanned_up_to = max(block_times.values()) if block_times else None  # expiry waits for the scanner
    for payment in touched.values():
        status_before, amount_before = payment.status, payment.amount_received_base_units
        clock = EXPIRY_NOT_JUDGED
        if payment.chain == chain and scanned_up_to is not None:
            clock = scanned_up_to if others_at(payment) is None else min(scanned_up_to, others_at(payment))
        await settle(session, payment, all_transfers[payment.id], now, expiry_clock=clock)
        if payment.id in final_before & revived_in:  # a reorg took this amount out, the new fork brings it back
            await _reorged_if_amount_changed(session, payment, all_transfers[payment.id], status_before, amount_before)
    return len(new) + len(misdirected)


async def _reorged_if_amount_changed(session: AsyncSession, payment: Payment, transfers: list[Transfer],
                                     status_before: str, amount_before: int) -> None:
    """payment.reorged when a reorg changed what a payment received but not its status: the one rule for
    both directions (transfers orphaned, or orphaned ones back in the new fork). A changed status says
    so through its own event; a pending payment has nothing to report."""
    if payment.status == status_before != "pending" and payment.amount_received_base_units != amount_before:
        await record_payment_event(session, payment, "payment.reorged", transfers=transfers)


async def _stored_hash(session: AsyncSession, chain: str, number: int) -> str | None:
    row = await session.get(RecentBlock, (chain, number))
    return row.hash if row else None


async def _remember(session: AsyncSession, chain: str, blocks: Sequence[Block]) -> None:
    """Store the range's hashes (replacing rows of the same numbers) in two statements, not a merge per block."""
    await session.execute(delete(RecentBlock).where(RecentBlock.chain == chain,
                                                    RecentBlock.number.between(blocks[0].number, blocks[-1].number)))
    await session.execute(insert(RecentBlock), [dict(chain=chain, number=b.number, hash=b.hash,
                                                     parent_hash=b.parent_hash) for b in blocks])
    await session.execute(delete(RecentBlock).where(RecentBlock.chain == chain,
                                                    RecentBlock.number <= blocks[-1].number - REORG_WINDOW))


async def rewind(session: AsyncSession, chain: EVMChain, cursor: ChainCursor) -> int:
    """Walk back to the last stored block the node still has; orphan everything above it.

    Returns the common ancestor; the cursor is set to it, so the next step rescans what follows.
    """
    name = chain.config.name
    stored = list(await session.scalars(select(RecentBlock).where(RecentBlock.chain == name)
                                        .order_by(RecentBlock.number.desc())))
    canonical = {b.number: b.hash for b in await chain.get_blocks([r.number for r in stored], full=False)} \
        if stored else {}
    ancestor = next((r.number for r in stored if canonical.get(r.number) == r.hash), None)
    if ancestor is None:
        ancestor = (stored[-1].number - 1) if stored else cursor.last_block
        log.error("chain %s: reorg deeper than the %d-block window; rescanning from %d", name, REORG_WINDOW, ancestor)
    orphaned = list(await session.scalars(select(Transfer).where(
        Transfer.chain == name, Transfer.block_number > ancestor, Transfer.state != "orphaned")))
    now = utcnow()
    for t in orphaned:
        if t.state == "confirmed":
            log.error("chain %s: reorg orphaned confirmed transfer %s:%d", name, t.tx_hash, t.log_index)
        t.state, t.updated_at = "orphaned", now
    await session.execute(delete(RecentBlock).where(RecentBlock.chain == name, RecentBlock.number > ancestor))
    cursor.last_block = ancestor
    await _settle_after_orphaning(session, name, {t.payment_id for t in orphaned if t.payment_id}, now)
    log.warning("chain %s: reorg, back to block %d, %d transfers orphaned", name, ancestor, len(orphaned))
    return ancestor


async def _settle_after_orphaning(session: AsyncSession, chain: str, payment_ids: set[str], now: datetime) -> None:
    if not payment_ids:
        return
    # every payment a transfer of this chain credited (its own, or another chain's paid in an
    # equivalent asset); a misdirected transfer credits nothing, so settling its payment changes nothing
    payments = list(await session.scalars(select(Payment).where(Payment.id.in_(sorted(payment_ids)))
                                          .order_by(Payment.id).with_for_update()))
    transfers = await transfers_of(session, [p.id for p in payments])
    for payment in payments:
        status_before, amount_before = payment.status, payment.amount_received_base_units
        # expiry is judged when the rescan passes it again, never ahead of the scanner
        await settle(session, payment, transfers[payment.id], now, expiry_clock=EXPIRY_NOT_JUDGED)
        await _reorged_if_amount_changed(session, payment, transfers[payment.id], status_before, amount_before)


async def _check_anchor(session: AsyncSession, chain: EVMChain, cursor: ChainCursor) -> StepResult:
    """No new block: still make sure the last scanned block was not replaced (a reorg to the same height)."""
    stored = await _stored_hash(session, chain.config.name, cursor.last_block)
    if stored is None or cursor.last_block < 0:
        return StepResult()
    (block,) = await chain.get_blocks([cursor.last_block], full=False)
    if block.hash == stored:
        return StepResult()
    return StepResult(reorg_to=await rewind(session, chain, cursor))


async def scan_step(runtime: Runtime, chain_name: str, *, max_blocks: int = DEFAULT_STEP_BLOCKS,
                    _pipeline: _Pipeline | None = None) -> StepResult:
    """Scan the next range of `chain_name` in one transaction (see module docstring)."""
    chain = runtime.chains[chain_name]
    pipeline = _pipeline or _Pipeline()
    async with runtime.sessions() as session, session.begin():
        if not await try_chain_lock(session, "scan", chain_name):
            return StepResult(busy=True)
        cursor = await session.get(ChainCursor, chain_name, with_for_update=True)
        if cursor is None:
            await _init_cursor(session, chain)
            return StepResult()
        head = await chain.head()
        if head <= cursor.last_block:
            return await _check_anchor(session, chain, cursor)
        numbers, (blocks, logs) = await pipeline.fetch(runtime, chain, cursor.last_block + 1,
                                                       min(head, cursor.last_block + max_blocks))
        expected_parent = await _stored_hash(session, chain_name, cursor.last_block)
        if expected_parent is not None and blocks[0].parent_hash != expected_parent:
            return StepResult(reorg_to=await rewind(session, chain, cursor))
        matched, payments = await _match(runtime, chain, blocks, logs, session)
        if _pipeline is not None and head > numbers[-1]:  # after the receipts: the node serves those first
            _pipeline.start(runtime, chain, list(range(numbers[-1] + 1, min(head, numbers[-1] + max_blocks) + 1)))
        block_times = {b.number: datetime.fromtimestamp(b.timestamp, UTC) for b in blocks}
        count = await _apply(session, runtime.equivalence, matched, payments, block_times)
        await _remember(session, chain_name, blocks)
        cursor.last_block = blocks[-1].number
        cursor.last_block_time = block_times[blocks[-1].number]
        cursor.updated_at = utcnow()
        return StepResult(from_block=numbers[0], to_block=numbers[-1], transfers=count)


async def scan_chain(runtime: Runtime, chain_name: str, *, max_steps: int = 50,
                     max_blocks: int = DEFAULT_STEP_BLOCKS) -> list[StepResult]:
    """Steps until caught up with the head (or `max_steps`), the unit of work of the scan job.

    Each step prefetches the next range while it records its own (see `_Pipeline`).
    """
    results = []
    pipeline = _Pipeline()
    try:
        for _ in range(max_steps):
            result = await scan_step(runtime, chain_name, max_blocks=max_blocks, _pipeline=pipeline)
            results.append(result)
            if result.busy or not (result.advanced or result.reorg_to is not None or len(results) == 1):
                break
    finally:
        pipeline.drop()
    return results


async def record_found(session: AsyncSession, equivalence: Equivalence, found: list[ObservedTransfer],
                       block_times: dict[int, datetime]) -> list[ObservedTransfer]:
    """Record transfers found outside a scan step (the balance auditor's), by the scanner's own rules:
    the deposit payments locked, the gateway's own transactions dropped, each transfer recorded once
    per (chain, tx_hash, log_index) whoever finds it first, payments settled (late ones marked).
    → the found transfers that are payments (the gateway's own are not), as recorded."""
    deposits = await _deposit_ids(session, {t.to_address for t in found})
    payments = await _lock_payments(session, set(deposits.values()))
    matched = await _without_own_sweeps(session, [t for t in found if t.to_address in payments])
    if matched:
        await _apply(session, equivalence, matched, payments, block_times)
    return matched
