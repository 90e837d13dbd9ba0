"""Confirming: count confirmations, re-check transfers against the canonical chain, settle.

A transfer is ripe when head − block + 1 reaches the chain's confirmation count, or when its block
is at or below the node's `finalized` block for chains configured with `confirmations: finalized`.
Before it counts as confirmed its receipt is fetched again: one now in another block is moved
there and waits again, so a payment is only confirmed on transfers the canonical chain holds. A
receipt answered null is "not known yet" (a lagging or fallback node), never evidence of a reorg:
it is asked of the next RPC URL, and when none has it the step fails and is retried, the transfer
left as it is. Only the scanner, seeing a changed block hash at that height, orphans a transfer. Runs under the chain's scan lock, so scanner
and confirmer never update the same transfers at once. Its settle pass also takes the payments
expiry.py finds due, in the same transaction and lock order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.chains import EVMChain
from ctrip_core.chains.types import MalformedAnswer
from ctrip_core.db.models import Payment, Transfer
from ctrip_core.db.types import utcnow
from ctrip_core.runtime import Runtime
from ctrip_core.services.payments.payment_state import EXPIRY_NOT_JUDGED, settle
from ctrip_core.services.watching import quorum
from ctrip_core.services.watching.chain_lock import try_chain_lock
from ctrip_core.services.watching.expiry import due_for_expiry
from ctrip_core.services.watching.transfers import transfers_of

log = logging.getLogger(__name__)


@dataclass
class ConfirmResult:
    busy: bool = False
    confirmed: int = 0
    orphaned: int = 0
    moved: int = 0
    settled: int = 0
    #: Ripe transfers kept unconfirmed for want of `rpc_quorum` agreeing nodes.
    held: int = 0
    #: The nodes (as logs show them) that disagreed with the quorum, once per disagreement.
    disagreeing: list[str] = field(default_factory=list)


async def ripe_height(chain: EVMChain) -> int:
    """The highest block whose transfers have enough confirmations now."""
    rule = chain.confirmations
    if rule == "finalized":
        block = await chain.block_by_tag("finalized")
        if block is None:
            raise MalformedAnswer("node has no finalized block")
        return block.number
    return await chain.head() - rule + 1


async def _recheck(runtime: Runtime, session: AsyncSession, chain: EVMChain, transfers: list[Transfer],
                   result: ConfirmResult) -> None:
    """Confirm ripe transfers the canonical chain still holds; move the ones now in another block.
    With `rpc_quorum` > 1 the quorum decides each of these (services/watching/quorum.py)."""
    if chain.config.rpc_quorum > 1:
        return await _recheck_by_quorum(runtime, session, chain, transfers, result)
    hashes = sorted({t.tx_hash for t in transfers})
    # must_exist: these were read from a mined block; null is a lagging node, tried on the next URL
    receipts = dict(zip(hashes, await chain.get_receipts(hashes, must_exist=True)))
    now = utcnow()
    for t in transfers:
        receipt = receipts[t.tx_hash]
        if receipt.status != 1:
            t.state, result.orphaned = "orphaned", result.orphaned + 1
        elif receipt.block_hash != t.block_hash:
            t.block_number, t.block_hash, result.moved = receipt.block_number, receipt.block_hash, result.moved + 1
        else:
            t.state, result.confirmed = "confirmed", result.confirmed + 1
        t.updated_at = now


async def _recheck_by_quorum(runtime: Runtime, session: AsyncSession, chain: EVMChain, transfers: list[Transfer],
                             result: ConfirmResult) -> None:
    verdict = await quorum.judge(runtime.matchers, chain, transfers)
    await quorum.note_disagreements(session, chain.config.name, verdict.disagreements)
    result.disagreeing += [d.node for d in verdict.disagreements]
    now = utcnow()
    for t in transfers:
        if t.id in verdict.confirmed:
            t.state, result.confirmed = "confirmed", result.confirmed + 1
        elif t.id in verdict.orphaned:
            t.state, result.orphaned = "orphaned", result.orphaned + 1
        elif t.id in verdict.moved:
            t.block_number, t.block_hash = verdict.moved[t.id].block_number, verdict.moved[t.id].block_hash
            result.moved += 1
        else:
            result.held += 1
            continue
        t.updated_at = now


async def _settle_chain(session: AsyncSession, chain_name: str, payment_ids: set[str], result: ConfirmResult,
                        paying: frozenset[str] = frozenset()) -> None:
    """Settle payments whose transfers changed, and every open payment due for expiry (expiry.py),
    locked in id order, judging expiry at the scanner's clock. A payment of another chain paid here
    in an equivalent asset is settled too, its expiry left to its own chain's clock (a misdirected
    transfer credits nothing: settling its payment changes nothing)."""
    now = utcnow()
    due = await due_for_expiry(session, chain_name, paying)
    ids = sorted(payment_ids | due.payment_ids)
    if not ids:
        return
    payments = list(await session.scalars(select(Payment).where(Payment.id.in_(ids))
                                          .order_by(Payment.id).with_for_update()))
    transfers = await transfers_of(session, ids)
    for payment in payments:
        clock = due.clock_of(payment) if payment.chain == chain_name else EXPIRY_NOT_JUDGED
        await settle(session, payment, transfers[payment.id], now, expiry_clock=clock)
    result.settled = len(payments)


async def confirm_step(runtime: Runtime, chain_name: str) -> ConfirmResult:
    chain = runtime.chains[chain_name]
    result = ConfirmResult()
    async with runtime.sessions() as session, session.begin():
        if not await try_chain_lock(session, "scan", chain_name):
            return ConfirmResult(busy=True)
        ripe = await ripe_height(chain)
        transfers = list(await session.scalars(select(Transfer).where(
            Transfer.chain == chain_name, Transfer.state == "seen", Transfer.block_number <= ripe)
            .order_by(Transfer.id)))
        if transfers:
            await _recheck(runtime, session, chain, transfers, result)
            await session.flush()
        await _settle_chain(session, chain_name, {t.payment_id for t in transfers if t.payment_id}, result,
                            runtime.equivalence.paying_chains(chain_name))
    if result.orphaned or result.moved:
        log.warning("chain %s: re-check orphaned %d and moved %d transfers", chain_name, result.orphaned, result.moved)
    return result
