"""The transactions report for accountants (GET /v1/reports/transactions.csv, `ctrip export`).

One row per payment, incoming transfer, deposit sweep, refund and payout of a merchant created in
[since, until), oldest first, in this column order (stable: new columns are only ever appended):

    type           payment | transfer | sweep | refund | payout
    id             pay_… | the transfer's tx_hash:log_index | swp_… | rf_… | po_…
    created_at     ISO 8601, UTC
    chain, asset   the chain's name and the asset's symbol
    status         the payment's status, the transfer's state, the sweep's, refund's or payout's status
    tx_hash        the transaction (empty for a payment, or for what is not broadcast yet)
    from, to       addresses (a payment: its deposit address as `to`)
    amount         decimal string in the asset; amount_base_units: the integer
    fee_base_units what its mined transaction paid for gas, in the chain's native coin (sweeps,
                   refunds, payouts; empty while unknown)
    payment_id     the payment a transfer, sweep or refund belongs to
    fiat_value, fiat_currency
                   a priced payment's price; its transfers' value at the rate locked at creation
                   (rounded down to minor units, as they were credited); empty when not priced
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.config import ChainConfig
from ctrip_core.db.models import Payment, Payout, Sweep, Transfer
from ctrip_core.money import format_amount
from ctrip_core.pricing.currencies import MINOR_UNITS
from ctrip_core.pricing.quotes import value_in_minor_units
from ctrip_core.services.errors import InvalidField
from ctrip_core.services.payments.payment_view import iso

COLUMNS = ("type", "id", "created_at", "chain", "asset", "status", "tx_hash", "from", "to", "amount",
           "amount_base_units", "fee_base_units", "payment_id", "fiat_value", "fiat_currency")


def _decimals(chains: dict[str, ChainConfig], chain: str, token: str | None) -> int | None:
    found = chains[chain].asset_at(token) if chain in chains else None
    return found.decimals if found else None


def _amount(units: int, decimals: int | None) -> str:
    return "" if decimals is None else format_amount(int(units), decimals)


def _fiat(payment: Payment, units: int, decimals: int) -> tuple[str, str]:
    if not payment.rate_value or not payment.price_currency:
        return "", ""
    minor = MINOR_UNITS.get(payment.price_currency)
    if minor is None:
        return "", ""
    value = value_in_minor_units(int(units), decimals, Decimal(payment.rate_value), minor)
    return format_amount(value, minor), payment.price_currency


async def transaction_rows(session: AsyncSession, merchant_id: str, chains: dict[str, ChainConfig],
                           since: datetime | None = None, until: datetime | None = None) -> list[list[str]]:
    """The report's rows (without the header), oldest first."""
    def window(column):
        clauses = []
        if since is not None:
            clauses.append(column >= since)
        if until is not None:
            clauses.append(column < until)
        return clauses

    rows: list[tuple[datetime, str, list[str]]] = []
    payments = {p.id: p for p in await session.scalars(select(Payment).where(Payment.merchant_id == merchant_id))}
    for p in payments.values():
        if (since is None or p.created_at >= since) and (until is None or p.created_at < until):
            fiat = ("" if p.price_base_units is None else format_amount(int(p.price_base_units),
                                                                        MINOR_UNITS.get(p.price_currency, 0)))
            rows.append((p.created_at, p.id, [
                "payment", p.id, iso(p.created_at), p.chain, p.asset, p.status, "", "", p.address,
                format_amount(int(p.amount_base_units), p.decimals), str(p.amount_base_units), "", "",
                fiat, p.price_currency or ""]))
    transfers = await session.scalars(select(Transfer).join(Payment, Payment.id == Transfer.payment_id).where(
        Payment.merchant_id == merchant_id, *window(Transfer.created_at)))
    for t in transfers:
        decimals = _decimals(chains, t.chain, t.token_address)
        payment = payments[t.payment_id]
        fiat = _fiat(payment, t.amount_base_units, decimals) if decimals is not None else ("", "")
        ident = f"{t.tx_hash}:{t.log_index}"
        rows.append((t.created_at, ident, [
            "transfer", ident, iso(t.created_at), t.chain, t.asset, t.state, t.tx_hash, t.from_address,
            t.to_address, _amount(t.amount_base_units, decimals), str(t.amount_base_units), "", t.payment_id, *fiat]))
    sweep_payments = dict((await session.execute(
        select(Transfer.sweep_id, Transfer.payment_id).join(Payment, Payment.id == Transfer.payment_id)
        .where(Payment.merchant_id == merchant_id, Transfer.sweep_id.is_not(None)))).all())
    sweeps = {s.id: s for s in await session.scalars(select(Sweep).where(Sweep.merchant_id == merchant_id))}
    for s in sweeps.values():
        if s.payout_id is not None or s.kind == "gas_topup":  # a payout is its own row; a top-up the tank's
            continue
        if (since is not None and s.created_at < since) or (until is not None and s.created_at >= until):
            continue
        decimals = _decimals(chains, s.chain, s.token_address)
        found = chains[s.chain].asset_at(s.token_address) if s.chain in chains else None
        asset = found.symbol if found else s.token_address or ""
        rows.append((s.created_at, s.id, [
            "sweep", s.id, iso(s.created_at), s.chain, asset, s.state, s.tx_hash if s.state != "pending" else "",
            s.from_address, s.to_address, _amount(s.amount_base_units, decimals), str(s.amount_base_units),
            "" if s.fee_base_units is None else str(s.fee_base_units), sweep_payments.get(s.id, ""), "", ""]))
    payouts = await session.scalars(select(Payout).where(Payout.merchant_id == merchant_id,
                                                         *window(Payout.created_at)))
    for o in payouts:
        sweep = sweeps.get(o.sweep_id) if o.sweep_id else None
        decimals = _decimals(chains, o.chain, o.token_address)
        rows.append((o.created_at, o.id, [
            "refund" if o.payment_id else "payout", o.id, iso(o.created_at), o.chain, o.asset, o.status,
            sweep.tx_hash if sweep is not None and sweep.submitted_at is not None else "",
            sweep.from_address if sweep is not None else "", o.address, _amount(o.amount_base_units, decimals),
            str(o.amount_base_units), "" if sweep is None or sweep.fee_base_units is None else str(sweep.fee_base_units),
            o.payment_id or "", "", ""]))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in rows]


def parse_moment(text: str | None, field: str) -> datetime | None:
    """An ISO 8601 date or date-time (UTC when it names no offset); InvalidField otherwise."""
    if text is None or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidField(f"{text!r} is not an ISO 8601 date or date-time (2026-12-01 or "
                           f"2026-12-01T10:00:00Z)", field) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def as_csv(rows: list[list[str]]) -> str:
    """The report as CSV text (RFC 4180, CRLF line ends), header first."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue()


async def transactions_csv(runtime, merchant_id: str, since_text: str | None, until_text: str | None) -> str:
    """The report of what was created in [since, until) (ISO 8601 texts, either open) as CSV text:
    what GET /v1/reports/transactions.csv and the dashboard's export answer."""
    since, until = parse_moment(since_text, "from"), parse_moment(until_text, "to")
    async with runtime.read_sessions() as session:
        rows = await transaction_rows(session, merchant_id, runtime.chain_configs(), since, until)
    return as_csv(rows)
