"""The payment object of CONTRACT §3, as the API returns it and webhooks carry it.

Confirmations are counted against the scanner's cursor (the last block it processed), so reading
a payment never calls a node.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import ChainCursor, Payment, Sweep, Transfer
from ctrip_core.money import format_amount

#: confirmations_required stored for chains whose rule is the node's `finalized` block.
FINALIZED = 0


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def payment_uri(payment: Payment) -> str:
    """EIP-681 of the payment's whole amount (`eip681_uri`)."""
    return eip681_uri(payment.address, payment.chain_id, payment.token_address, int(payment.amount_base_units))


def eip681_uri(address: str, chain_id: int, token_address: str | None, amount_base_units: int) -> str:
    """EIP-681: pay `amount_base_units` of the native coin to `address`, or call `transfer` on the token."""
    if token_address is None:
        return f"ethereum:{address}@{chain_id}?value={amount_base_units}"
    return f"ethereum:{token_address}@{chain_id}/transfer?address={address}&uint256={amount_base_units}"


def _transfer(t: Transfer, head: int | None) -> dict[str, Any]:
    confirmations = 0
    if t.state != "orphaned" and head is not None and head >= t.block_number:
        confirmations = head - t.block_number + 1
    return {"tx_hash": t.tx_hash, "log_index": None if t.log_index < 0 else t.log_index,
            "block_number": t.block_number, "block_hash": t.block_hash, "from": t.from_address,
            "amount_base_units": str(t.amount_base_units), "confirmations": confirmations, "state": t.state,
            "late": t.late, "source": t.source}


def _sweep(transfers: Sequence[Transfer], sweeps: dict[str, Sweep]) -> dict[str, Any]:
    mine = [sweeps[t.sweep_id] for t in transfers if t.sweep_id in sweeps]
    if not mine:
        return {"state": "none", "tx_hashes": []}
    states = {s.state for s in mine}
    state = next(s for s in ("failed", "pending", "submitted", "done") if s in states)
    return {"state": state, "tx_hashes": sorted({s.tx_hash for s in mine if s.tx_hash})}


def render(payment: Payment, transfers: Sequence[Transfer], head: int | None,
           sweeps: dict[str, Sweep] | None = None) -> dict[str, Any]:
    d = payment.decimals
    return {
        "id": payment.id, "object": "payment", "status": payment.status, "chain": payment.chain,
        "chain_id": payment.chain_id, "asset": payment.asset, "token_address": payment.token_address,
        "decimals": d, "amount": format_amount(payment.amount_base_units, d),
        "amount_base_units": str(payment.amount_base_units),
        "amount_received": format_amount(payment.amount_received_base_units, d),
        "amount_received_base_units": str(payment.amount_received_base_units),
        "address": payment.address, "payment_uri": payment_uri(payment),
        "confirmations_required": "finalized" if payment.confirmations_required == FINALIZED
        else payment.confirmations_required,
        "order_id": payment.order_id, "metadata": payment.metadata_ or {},
        "created_at": iso(payment.created_at), "expires_at": iso(payment.expires_at),
        "overpaid": payment.overpaid, "late": payment.late, "redirect_url": payment.redirect_url,
        "transfers": [_transfer(t, head) for t in transfers],
        "sweep": _sweep(transfers, sweeps or {}),
    }


async def render_many(session: AsyncSession, payments: Sequence[Payment]) -> list[dict[str, Any]]:
    """Payment objects for a page of payments in at most three queries, whatever the page size."""
    if not payments:
        return []
    ids = [p.id for p in payments]
    transfers: dict[str, list[Transfer]] = defaultdict(list)
    rows = await session.scalars(select(Transfer).where(Transfer.payment_id.in_(ids))
                                 .order_by(Transfer.block_number, Transfer.log_index))
    for t in rows:
        transfers[t.payment_id].append(t)
    heads = await _heads(session, {p.chain for p in payments if p.id in transfers})
    sweeps = await _sweeps_of(session, [t for ts in transfers.values() for t in ts])
    return [render(p, transfers[p.id], heads.get(p.chain), sweeps) for p in payments]


async def _heads(session: AsyncSession, chains: set[str]) -> dict[str, int]:
    """The scanners' last blocks, which only transfers' confirmations need: no query for a page of
    payments without transfers (pending ones, the most polled)."""
    if not chains:
        return {}
    return dict((await session.execute(select(ChainCursor.chain, ChainCursor.last_block)
                                       .where(ChainCursor.chain.in_(chains)))).all())


async def _sweeps_of(session: AsyncSession, transfers: Sequence[Transfer]) -> dict[str, Sweep]:
    """The sweeps that moved these transfers, by id (no query when none was swept)."""
    sweep_ids = sorted({t.sweep_id for t in transfers if t.sweep_id})
    if not sweep_ids:
        return {}
    return {s.id: s for s in await session.scalars(select(Sweep).where(Sweep.id.in_(sweep_ids)))}


async def render_with_transfers(session: AsyncSession, payment: Payment,
                                transfers: Sequence[Transfer]) -> dict[str, Any]:
    """The payment object when the caller already holds all of its transfers (saves loading them)."""
    heads = await _heads(session, {payment.chain} if transfers else set())
    return render(payment, transfers, heads.get(payment.chain), await _sweeps_of(session, transfers))


async def render_one(session: AsyncSession, payment: Payment) -> dict[str, Any]:
    return (await render_many(session, [payment]))[0]


def render_new(payment: Payment | dict[str, Any]) -> dict[str, Any]:
    """A payment just created: no transfers or sweeps can exist yet, so no queries.

    Takes the Payment or its values by attribute name (`payments.insert_new_payment`)."""
    return render(SimpleNamespace(**payment) if isinstance(payment, dict) else payment, [], None)
