"""The payment object of CONTRACT §3, as the API returns it and webhooks carry it.

Confirmations are counted against the scanner's cursor (the last block it processed), so reading
a payment never calls a node.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import SWEEP_SUMMARY_PRECEDENCE, ChainCursor, Payment, Sweep, Transfer
from ctrip_core.db.payment_insert import NewPayment
from ctrip_core.money import format_amount
from ctrip_core.pricing.currencies import MINOR_UNITS
from ctrip_core.pricing.quotes import value_in_minor_units

#: confirmations_required stored for chains whose rule is the node's `finalized` block.
FINALIZED = 0


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def payment_uri(payment: Payment | NewPayment) -> str:
    """EIP-681 of the payment's whole amount (`eip681_uri`); an open payment's: of its first option."""
    if payment.options:
        first = payment.options[0]
        return eip681_uri(payment.address, first["chain_id"], first["token_address"], int(first["amount_base_units"]))
    return eip681_uri(payment.address, payment.chain_id, payment.token_address, int(payment.amount_base_units))


def _options(payment: Payment | NewPayment) -> list[dict[str, Any]] | None:
    if not payment.options:
        return None
    return [{"chain": o["chain"], "chain_id": o["chain_id"], "asset": o["asset"], "token_address": o["token_address"],
             "decimals": o["decimals"], "amount": format_amount(int(o["amount_base_units"]), o["decimals"]),
             "amount_base_units": o["amount_base_units"],
             "payment_uri": eip681_uri(payment.address, o["chain_id"], o["token_address"], int(o["amount_base_units"])),
             "rate": {"value": o["rate"], "currency": payment.price_currency, "source": o["rate_source"],
                      "at": o["rate_at"]}} for o in payment.options]


def eip681_uri(address: str, chain_id: int, token_address: str | None, amount_base_units: int) -> str:
    """EIP-681: pay `amount_base_units` of the native coin to `address`, or call `transfer` on the token."""
    if token_address is None:
        return f"ethereum:{address}@{chain_id}?value={amount_base_units}"
    return f"ethereum:{token_address}@{chain_id}/transfer?address={address}&uint256={amount_base_units}"


def _priced(payment: Payment | NewPayment) -> tuple[Decimal, int] | None:
    """(locked rate, the currency's minor units) of a priced payment, else None. An open payment's
    own asset is the currency (rate 1: its credits are already in minor units)."""
    if payment.price_currency is None:
        return None
    if payment.options:
        return Decimal(1), MINOR_UNITS[payment.price_currency]
    if payment.rate_value is None:
        return None
    return Decimal(payment.rate_value), MINOR_UNITS[payment.price_currency]


def _price(payment: Payment | NewPayment) -> dict[str, Any] | None:
    if payment.price_currency is None:
        return None
    return {"amount": format_amount(int(payment.price_base_units), MINOR_UNITS[payment.price_currency]),
            "currency": payment.price_currency}


def _rate(payment: Payment | NewPayment) -> dict[str, Any] | None:
    if payment.rate_value is None:
        return None
    return {"value": payment.rate_value, "currency": payment.price_currency, "source": payment.rate_source,
            "at": iso(payment.rate_at)}


def _transfer(t: Transfer, head: int | None, priced: tuple[Decimal, int] | None = None,
              decimals: int = 0) -> dict[str, Any]:
    value = None
    if priced is not None and t.credited_base_units is not None:
        value = format_amount(value_in_minor_units(t.credited_base_units, decimals, *priced), priced[1])
    confirmations = 0
    if t.state != "orphaned" and head is not None and head >= t.block_number:
        confirmations = head - t.block_number + 1
    return {"tx_hash": t.tx_hash, "log_index": None if t.log_index < 0 else t.log_index,
            "block_number": t.block_number, "block_hash": t.block_hash, "from": t.from_address,
            "amount_base_units": str(t.amount_base_units), "confirmations": confirmations, "state": t.state,
            "late": t.late, "source": t.source, "chain": t.chain, "asset": t.asset, "token_address": t.token_address,
            "credited_base_units": None if t.credited_base_units is None else str(t.credited_base_units),
            "value": value}


def _sweep(transfers: Sequence[Transfer], sweeps: dict[str, Sweep]) -> dict[str, Any]:
    mine = [sweeps[t.sweep_id] for t in transfers if t.sweep_id in sweeps]
    if not mine:
        return {"state": "none", "tx_hashes": []}
    states = {s.state for s in mine}
    state = next(s for s in SWEEP_SUMMARY_PRECEDENCE if s in states)
    return {"state": state, "tx_hashes": sorted({s.tx_hash for s in mine if s.tx_hash})}


def _misdirected(t: Transfer, head: int | None, sweeps: dict[str, Sweep]) -> dict[str, Any]:
    swept = sweeps.get(t.sweep_id) if t.sweep_id else None
    return _transfer(t, head) | {"sweep_state": swept.state if swept is not None else "none"}


def render(payment: Payment | NewPayment, transfers: Sequence[Transfer], head: int | None,
           sweeps: dict[str, Sweep] | None = None, *, elsewhere: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The payment object. `transfers` may include some on another chain (see `watching/scanning`),
    confirmations counted with that chain's head (`elsewhere`): an equivalent asset that credits the
    payment is listed with its own transfers, anything else apart (misdirected). `sweep` speaks of
    the listed funds (wherever each was swept), not of misdirected ones."""
    d = payment.decimals
    listed = [t for t in transfers if t.chain == payment.chain or t.credited_base_units is not None]
    others = [t for t in transfers if not (t.chain == payment.chain or t.credited_base_units is not None)]
    heads = dict(elsewhere or {}) | {payment.chain: head}
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
        "transfers": [_transfer(t, heads.get(t.chain), _priced(payment), d) for t in listed],
        "misdirected": [_misdirected(t, heads.get(t.chain), sweeps or {}) for t in others],
        "sweep": _sweep(listed, sweeps or {}),
        "price": _price(payment), "rate": _rate(payment),
        "underpaid_within_tolerance": payment.status == "confirmed" and int(payment.amount_received_base_units)
        < int(payment.amount_base_units),
        "options": _options(payment),
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
    heads = await _heads(session, {t.chain for ts in transfers.values() for t in ts})
    sweeps = await _sweeps_of(session, [t for ts in transfers.values() for t in ts])
    return [render(p, transfers[p.id], heads.get(p.chain), sweeps, elsewhere=heads) for p in payments]



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
    heads = await _heads(session, {t.chain for t in transfers})
    return render(payment, transfers, heads.get(payment.chain), await _sweeps_of(session, transfers),
                  elsewhere=heads)


async def render_one(session: AsyncSession, payment: Payment) -> dict[str, Any]:
    return (await render_many(session, [payment]))[0]


def render_new(payment: NewPayment) -> dict[str, Any]:
    """A payment just created (`operations.create_payment`): no transfers or sweeps can exist yet, so no queries."""
    return render(payment, [], None)
