"""Tracking sweeps already signed (the first half of a pass). Sweeping: move confirmed (and late) deposits to the chain's treasury, crash-safe and never twice.

One pass per chain, under the chain's sweep lock (so two sweepers never sign for the same
address at once), in two halves:

1. `advance`: move existing sweeps along their state machine
   pending (signed, stored) → submitted (broadcast) → done (mined and past the chain's
   confirmation rule) | failed (reverted). The signed transaction and its hash are committed before
   it is ever broadcast, so after a crash the same bytes are re-broadcast (or found mined) instead
   of a second transaction being signed. A sweep unmined for `sweeps.replace_after_s` is replaced
   with a higher fee at the same nonce (committed, then broadcast); every replaced hash is
   remembered, since any of them may be the one mined. A missing receipt is "not known yet": a
   done sweep goes back to submitted (and is re-broadcast) only when the block it was mined in has
   been replaced, seen as another block at that height without it.
2. `start_new`: see `starting`, which signs new sweeps for unswept confirmed transfers
   (`sweep_pass` runs both halves).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select

from ctrip_core.chains import EVMChain
from ctrip_core.chains.rpc import RpcError, RpcResponseError
from ctrip_core.chains.transactions import bumped
from ctrip_core.chains.types import HASH32_RE, FeeQuote, Receipt
from ctrip_core.db.models import OPEN_SWEEP_STATES, Payment, Sweep, Transfer
from ctrip_core.db.types import utcnow
from ctrip_core.runtime import Runtime
from ctrip_core.services.outbox.events import record_payment_event
from ctrip_core.services.payouts.payout_status import follow_sweep
from ctrip_core.services.sweeps.keys import SweepKeys
from ctrip_core.services.sweeps.reads import PassReads
from ctrip_core.services.sweeps.signing import Refused, adopt_version, check_route, note_refusal, sign_sweep

log = logging.getLogger(__name__)
#: A replacement bids at most this many times today's fee quote per gas: the previous fee it bumps is
#: read from the sweep row, which a database writer could raise to have the sender's balance paid to
#: the block producer. A version signed honestly reaches it only after its fee is already far above
#: the market (it will be mined); nothing honest is held back.
MAX_BID_OVER_QUOTE = 5
RECHECK_DONE_BLOCKS = 128
ALREADY_KNOWN = ("already known", "known transaction", "nonce too low", "already imported")
UNFUNDED = "insufficient funds"
#: `sweeps.error` of a sweep whose mined transaction reverted (it paid gas; the auditor counts it).
REVERTED = "transaction reverted"


@dataclass
class SweepReport:
    busy: bool = False
    created: list[str] = field(default_factory=list)
    broadcast: int = 0
    done: int = 0
    failed: int = 0
    replaced: int = 0
    rebroadcast: int = 0
    #: One reason (see `signing.REASONS`) per transaction the sweeper refused to sign.
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: What holds a sweep back until something outside changes (an empty gas tank, a balance short of
    #: the fee): condition key → one line. Said once when it starts and once when it ends, not every
    #: pass (jobs/sweep_conditions.py); counted meanwhile.
    waiting: dict[str, str] = field(default_factory=dict)


def fee_of(sweep: Sweep) -> FeeQuote:
    if sweep.gas_price is not None:
        return FeeQuote("legacy", gas_price=sweep.gas_price)
    return FeeQuote("eip1559", max_fee_per_gas=sweep.max_fee_per_gas,
                    max_priority_fee_per_gas=sweep.max_priority_fee_per_gas)


def set_fee(sweep: Sweep, fee: FeeQuote) -> None:
    sweep.gas_price = fee.gas_price
    sweep.max_fee_per_gas, sweep.max_priority_fee_per_gas = fee.max_fee_per_gas, fee.max_priority_fee_per_gas


async def broadcast(chain: EVMChain, sweep: Sweep) -> bool:
    """Send the stored raw transaction; True when the node has it (now or already)."""
    try:
        await chain.send_raw_transaction(sweep.raw_tx)
        return True
    except RpcResponseError as exc:
        if any(text in exc.message.lower() for text in ALREADY_KNOWN):
            return await chain.rpc.call("eth_getTransactionByHash", sweep.tx_hash) is not None or \
                (await chain.get_receipts([sweep.tx_hash]))[0] is not None
        sweep.error = f"broadcast refused: {exc.message}"[:500]
        return False


async def _send(session, chain: EVMChain, sweep: Sweep, report: SweepReport) -> bool:
    """`broadcast`; a node refusing a deposit sweep or top-up for want of funds fails it. Its funds are
    not there (a reorg removed a deposit, say): nothing it signed can be mined as it is, so its
    transfers are released and the next sweep is planned from what the chain holds (at the same
    nonce). A payout's is never failed here: it waits, re-broadcast each pass, until its wallet is
    funded (its nonce is never handed out again: `starting.next_nonce`)."""
    if await broadcast(chain, sweep):
        return True
    if sweep.payout_id is not None:  # its bytes stay valid at its nonce: failed, they could still pay, and
        return False                 # its nonce be reused by another payout (paid twice): sent again each pass
    if sweep.error and UNFUNDED in sweep.error.lower():
        log.warning("sweep %s: %s; failed, its transfers are swept again from the chain's balance", sweep.id,
                    sweep.error)
        sweep.state = "failed"
        await unlink(session, sweep)
        report.failed += 1
    return False


async def _mined(chain: EVMChain, session, sweep: Sweep,
                 known: dict[str, Receipt | None] | None = None) -> Receipt | None:
    """The receipt of whichever version of the sweep was mined (which the sweep then records as its
    transaction); `known` receipts are not asked again."""
    hashes = [sweep.tx_hash, *(sweep.replaced_tx_hashes or [])]
    known = dict(known or {})
    missing = [h for h in hashes if h not in known]
    if missing:
        known.update(zip(missing, await chain.get_receipts(missing)))
    for h in hashes:
        receipt = known[h]
        if receipt is not None:
            if h != sweep.tx_hash:  # an earlier, cheaper version was mined
                await adopt_version(session, sweep, h)
                await _relink_to_mined(session, sweep)
            return receipt
    return None


async def _relink_to_mined(session, sweep: Sweep) -> None:
    """An earlier version was mined: the transfers a later version linked (confirmed after the first
    was signed) were not moved by it and are still on the deposit address. The sweep keeps, oldest
    first, only what the mined version covers (its amount, and for the native coin its worst-case
    gas, never its L1 fee: under-linking leaves a transfer for the next sweep, over-linking would
    strand it); the rest is released to be swept again."""
    if sweep.kind == "gas_topup" or sweep.payout_id is not None or sweep.amount_base_units is None:
        return  # nothing is linked to a top-up or a payout
    covered = int(sweep.amount_base_units)
    if sweep.kind == "native":
        covered += (sweep.gas_limit or 0) * int(sweep.max_fee_per_gas or sweep.gas_price or 0)
    await unlink(session, sweep)
    await link_transfers(session, sweep.chain, sweep.from_address, sweep.token_address, sweep.id,
                         block=2**62, covered=covered)


async def _reorged_out(chain: EVMChain, sweep: Sweep) -> bool:
    """Whether the chain proves a done sweep is no longer where it was mined: the node has a block at
    its height, and that block is another one (not the hash recorded) without any version of the sweep.
    A node without that block, or a receipt missing while the block is unchanged, proves nothing."""
    block = await chain.rpc.call("eth_getBlockByNumber", hex(sweep.confirmed_block), False)
    if not isinstance(block, dict) or not isinstance(block.get("hash"), str):
        return False  # not known yet: this node does not have that block (lagging)
    if sweep.confirmed_block_hash is not None and block["hash"].lower() == sweep.confirmed_block_hash.lower():
        return False  # the very block it was mined in is still canonical
    ours = {h.lower() for h in (sweep.tx_hash, *(sweep.replaced_tx_hashes or []))}
    return not any(isinstance(t, str) and t.lower() in ours for t in block.get("transactions") or [])


async def _replace(chain: EVMChain, keys: SweepKeys, session, sweep: Sweep, percent: int, ripe: int,
                   report: SweepReport) -> bool:
    """Same nonce, higher fee: sign a new version (the old hash is kept as possibly mined). True when signed.

    Balances are read at the ripe block (as the first version's were), from a node that has it."""
    try:
        if sweep.tx_hash is None or sweep.nonce is None:  # written in the database: nothing was signed to replace
            raise Refused("amount", f"sweep {sweep.id} has no signed version: nothing to replace")
        # A payout's later version only at the nonce of the sweeper's record (check_route): never a first one.
        route = check_route(chain.config, keys, sweep)  # before any balance is read from the row's addresses
        quote = await chain.fee_quote()
        fee = bumped(fee_of(sweep), percent, quote)
        if fee.worst_case_per_gas > MAX_BID_OVER_QUOTE * quote.worst_case_per_gas:
            raise Refused("fee", f"sweep {sweep.id}: a replacement would bid {fee.worst_case_per_gas} wei per gas, "
                                 f"over {MAX_BID_OVER_QUOTE}x today's quote ({quote.worst_case_per_gas}): the fee in "
                                 f"its row is not one the sweeper signed, or its version already pays enough")
        reads = PassReads(chain, ripe)
        balance = await reads.balance(sweep.from_address)
        token_balance = None
        amount = sweep.amount_base_units  # a gas top-up's: what the deposit address needs
        if route is not None:  # a payout: exactly the authorized amount (sign_sweep checks it)
            amount = route.amount
            value = amount if sweep.kind == "native" else 0
            if balance < value + fee.worst_case_cost(sweep.gas_limit):
                return False  # the wallet covers only the first fee: let that version be mined
            if sweep.kind == "token":
                token_balance = await reads.balance(sweep.from_address, sweep.token_address)
        elif sweep.kind == "token":
            if balance < fee.worst_case_cost(sweep.gas_limit):
                return False  # the top-up paid for the first fee only: let that version be mined rather than fail
            token_balance = await reads.balance(sweep.from_address, sweep.token_address)
            amount = token_balance
        elif sweep.kind == "native":
            # the whole balance at the ripe block less the higher worst-case fee, as the first version was
            # signed: never the row's amount (lowered in the database it would leave the rest behind for good)
            amount = balance - fee.worst_case_cost(sweep.gas_limit)
            if amount <= 0:
                return False
        sign_sweep(session, chain.config, keys, sweep, nonce=sweep.nonce, amount=amount, fee=fee, balance=balance,
                   token_balance=token_balance)
    except Refused as exc:
        note_refusal(report, exc)
        sweep.error = f"replacement refused: {exc.detail}"[:500]
        return False
    if sweep.kind != "gas_topup" and sweep.payout_id is None:  # transfers confirmed since the first version
        await link_within(session, sweep, block=ripe, moves=balance if sweep.kind == "native" else token_balance)
    return True


async def _swept_events(session, sweep: Sweep) -> None:
    """payment.swept for each payment whose funds this sweep moved: transfers on its own chain, or
    crediting it from another (an equivalent asset); not misdirected funds, which credit nothing."""
    if sweep.kind == "gas_topup":
        return
    rows = (await session.execute(select(Transfer.payment_id, Transfer.credited_base_units)
                                  .where(Transfer.sweep_id == sweep.id))).all()
    elsewhere = {p for p, credited in rows if p and credited is not None}
    ids = sorted({p for p, _ in rows if p})
    for payment in await session.scalars(select(Payment).where(Payment.id.in_(ids))):
        if payment.chain == sweep.chain or payment.id in elsewhere:
            await record_payment_event(session, payment, "payment.swept")


async def unlink(session, sweep: Sweep) -> None:
    """A failed sweep moved nothing: its transfers become sweepable again."""
    for t in await session.scalars(select(Transfer).where(Transfer.sweep_id == sweep.id)):
        t.sweep_id = None


async def link_transfers(session, chain: str, address: str, token: str | None, sweep_id: str, *, block: int,
                         covered: int) -> None:
    """Attach to the sweep the confirmed, unswept transfers of (address, asset) its funds include: those
    mined at or below `block` (where the balance was read), oldest first, as far as `covered` (the
    balance there) goes. Later transfers stay unswept, for the next sweep."""
    query = select(Transfer).where(Transfer.chain == chain, Transfer.to_address == address,
                                   Transfer.state == "confirmed", Transfer.sweep_id.is_(None),
                                   Transfer.block_number <= block)
    query = query.where(Transfer.token_address.is_(None) if token is None else Transfer.token_address == token)
    for t in await session.scalars(query.order_by(Transfer.block_number, Transfer.log_index, Transfer.tx_hash)):
        if t.amount_base_units > covered:
            break
        covered -= t.amount_base_units
        t.sweep_id = sweep_id


async def link_within(session, sweep: Sweep, *, block: int, moves: int) -> None:
    """Link to `sweep` further confirmed transfers mined at or below `block` while all it has linked
    stays within `moves`, what its signed version moves (the same rule as `link_transfers`)."""
    linked = await session.scalar(select(func.coalesce(func.sum(Transfer.amount_base_units), 0))
                                  .where(Transfer.sweep_id == sweep.id))
    await link_transfers(session, sweep.chain, sweep.from_address, sweep.token_address, sweep.id, block=block,
                         covered=moves - int(linked))


async def send_stored(runtime: Runtime, chain: EVMChain, sweep_id: str, report: SweepReport) -> None:
    """Broadcast the sweep's stored (already committed) version and record that the node has it."""
    async with runtime.sessions() as session, session.begin():
        sweep = await session.get(Sweep, sweep_id, with_for_update=True)
        if sweep.raw_tx is None or sweep.state not in OPEN_SWEEP_STATES:
            return
        if await _send(session, chain, sweep, report):
            now = utcnow()
            sweep.state, sweep.broadcast_at, sweep.submitted_at = "submitted", now, sweep.submitted_at or now
            sweep.error = None
            report.broadcast += 1
        await follow_sweep(session, chain.config, sweep)


async def _track(runtime: Runtime, chain: EVMChain, keys: SweepKeys, sweep_id: str, ripe: int,
                 report: SweepReport, receipts: dict[str, Receipt | None] | None = None) -> None:
    settings = runtime.settings.sweeps
    send = False  # the stored version, once this transaction is committed
    async with runtime.sessions() as session, session.begin():
        sweep = await session.get(Sweep, sweep_id, with_for_update=True)
        now = utcnow()
        if sweep.state == "pending":
            send = sweep.raw_tx is not None  # else a token sweep waiting for its gas top-up: see sign_waiting
        else:
            receipt = await _mined(chain, session, sweep, receipts)
            if receipt is None:
                if sweep.state == "done":
                    if not await _reorged_out(chain, sweep):
                        return  # a missing receipt is not known yet (a lagging node), never "gone"
                    log.warning("sweep %s: the block it was mined in (%s) was replaced by a reorg; re-broadcasting",
                                sweep.id, sweep.confirmed_block)
                    sweep.state, sweep.confirmed_block, sweep.confirmed_block_hash = "submitted", None, None
                    sweep.fee_base_units = None
                seen = await chain.rpc.call("eth_getTransactionByHash", sweep.tx_hash)
                if seen is None:
                    await _send(session, chain, sweep, report)  # the same signed bytes: harmless if it had them
                    report.rebroadcast += 1
                elif isinstance(seen, dict) and seen.get("blockNumber") is not None:
                    return  # mined, its receipt not known yet on this node: nothing to replace
                elif sweep.broadcast_at and now - sweep.broadcast_at > timedelta(seconds=settings.replace_after_s):
                    # the new version is committed with this transaction and broadcast only after it
                    send = await _replace(chain, keys, session, sweep, settings.fee_bump_pct, ripe, report)
                    if send:
                        report.replaced += 1
            elif receipt.status != 1 and sweep.payout_id is not None and receipt.block_number > ripe:
                pass  # a payout's revert is final only once confirmed: a reorg may drop it, the bytes then succeed
            elif receipt.status != 1:
                sweep.state, sweep.error = "failed", REVERTED
                sweep.fee_base_units = receipt.fee(sweep.gas_price)  # it paid gas
                await unlink(session, sweep)
                report.failed += 1
            elif sweep.state == "submitted" and receipt.block_number <= ripe:
                sweep.state, sweep.confirmed_block = "done", receipt.block_number
                sweep.confirmed_block_hash = receipt.block_hash
                sweep.fee_base_units = receipt.fee(sweep.gas_price)
                await _swept_events(session, sweep)
                report.done += 1
            sweep.updated_at = now
            await follow_sweep(session, chain.config, sweep)
    if send:  # record, commit, then broadcast: a crash in between leaves a known version, sent again
        await send_stored(runtime, chain, sweep_id, report)


async def advance(runtime: Runtime, chain: EVMChain, keys: SweepKeys, report: SweepReport, ripe: int) -> None:
    name = chain.config.name
    head = await chain.head()
    async with runtime.sessions() as session:
        sweeps = list(await session.scalars(select(Sweep).where(
            Sweep.chain == name,
            Sweep.state.in_(OPEN_SWEEP_STATES) |
            ((Sweep.state == "done") & (Sweep.confirmed_block > head - RECHECK_DONE_BLOCKS)))
            .order_by(Sweep.created_at)))
    # All their receipts in one batch (the pass holds the sweep lock: no one else changes these rows).
    # A done sweep still mined needs nothing more: no lock, no write.
    # A hash that is not one (a row written in the database) is left out: in the batch it would fail them all.
    hashes = [h for sweep in sweeps if sweep.raw_tx for h in (sweep.tx_hash, *(sweep.replaced_tx_hashes or []))
              if isinstance(h, str) and HASH32_RE.fullmatch(h)]
    receipts = dict(zip(hashes, await chain.get_receipts(hashes))) if hashes else {}
    for sweep in sweeps:
        if sweep.state == "done" and receipts.get(sweep.tx_hash) is not None:
            continue
        try:
            await _track(runtime, chain, keys, sweep.id, ripe, report, receipts)
        except RpcError as exc:  # one row's or one answer's trouble: the chain's other sweeps go on
            report.errors.append(f"sweep {sweep.id}: {exc}")
