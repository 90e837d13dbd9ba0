"""Payments: create (with a fresh deposit address), read, list, cancel.

Validation of meaning lives here (chain, asset, amount against the asset's decimals, expiry
bounds), so every caller (API, `ctrip dev`, tests) gets the same rules and the same field names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.config import ChainConfig
from ctrip_core.db.models import Payment
from ctrip_core.db.payment_insert import NewPayment
from ctrip_core.db.types import utcnow
from ctrip_core.ids import new_id
from ctrip_core.money import AmountError, parse_amount
from ctrip_core.pricing.rates import RATE_CONTEXT
from ctrip_core.runtime import Runtime
from ctrip_core.services.errors import Conflict, InvalidField, NotFound
from ctrip_core.services.payments import quoting
from ctrip_core.services.outbox.events import record_payment_event
from ctrip_core.services.payments.payment_view import FINALIZED
from ctrip_core.services.text_fields import checked_text
from ctrip_core.services.urls import check_http_url


@dataclass(frozen=True)
class PaymentRequest:
    """What a merchant asks for; structure already checked, meaning checked by `create_payment`."""

    chain: str | None
    asset: str | None
    amount: Any
    order_id: str | None = None
    #: Instead of `amount`: {"amount": "25.00", "currency": "USD"}, quoted at a rate locked at creation.
    price: Any = None
    metadata: dict[str, str] = field(default_factory=dict)
    expires_in: int | None = None
    redirect_url: str | None = None


def _chain(runtime: Runtime, name: str) -> ChainConfig:
    chain = runtime.chains.get(name)
    if chain is None:
        known = ", ".join(sorted(runtime.chains)) or "none"
        raise InvalidField(f"unknown chain {name!r} (configured: {known})", "chain")
    return chain.config


def _expiry(runtime: Runtime, expires_in: int | None, *, priced: bool = False) -> int:
    p = runtime.settings.payments
    if expires_in is None:
        return p.priced_expiry_s if priced else p.default_expiry_s
    longest = min(p.max_expiry_s, p.priced_max_expiry_s) if priced else p.max_expiry_s
    if not p.min_expiry_s <= expires_in <= longest:
        why = " (a priced payment's rate is locked that long at most)" if priced and longest < p.max_expiry_s else ""
        raise InvalidField(f"must be between {p.min_expiry_s} and {longest} seconds{why}", "expires_in")
    return expires_in


def _confirmations(runtime: Runtime, chain_name: str) -> int:
    rule = runtime.chains[chain_name].confirmations
    return FINALIZED if rule == "finalized" else rule


@dataclass(frozen=True)
class CheckedRequest:
    """A request every rule but the rate holds for: its price parsed (None: an amount in the asset)
    and its expiry in seconds (the default filled in)."""

    price: quoting.Price | None
    expires_in: int


def check_request(runtime: Runtime, req: PaymentRequest) -> CheckedRequest:
    """Every rule of `req` that needs no rate (one of amount and price; the price, expiry, redirect
    URL; the chain, asset and amount), or `InvalidField`. `create_payment` runs it first; a payment
    link (services/payments/payment_links.py) runs it on the request it will make payments of."""
    if (req.amount is None) == (req.price is None):
        raise InvalidField("give exactly one of amount (in the asset) and price (in a currency)",
                           "amount" if req.amount is None else "price")
    checked_text(req.order_id, "order_id")
    price = quoting.parse_price(runtime, req.price) if req.price is not None else None
    expires_in = _expiry(runtime, req.expires_in, priced=price is not None)
    if req.redirect_url is not None:
        check_http_url(req.redirect_url, "redirect_url")
    if not _is_open(req, price):
        _, asset = _asset(runtime, req)
        if price is None:
            _amount(req, asset.decimals)
    return CheckedRequest(price, expires_in)


def _is_open(req: PaymentRequest, price: quoting.Price | None) -> bool:
    return req.chain is None and req.asset is None and price is not None


async def create_payment(runtime: Runtime, merchant_id: str, req: PaymentRequest, *,
                         within: AsyncSession | None = None, now: datetime | None = None) -> NewPayment:
    """Validate, then have the runtime's payment writer allocate the next derivation index and insert
    the payment with the address derived from it.

    An amount in an asset, a price quoted in an asset (`quoting.quote`), or, with a price and neither
    chain nor asset, an open payment: owed in the price's currency (its minor units are its base
    units), payable in any of its `options` (`quoting.open_options`), its home chain the first of
    them (whose confirmation rule and clock it follows).

    `within`: a session whose transaction the insert joins (the API's, when an Idempotency-Key
    opened one); without it the writer commits on its own. The payment comes back as the values
    written (`NewPayment`, which `payment_view.render_new` renders), not an ORM object.
    """
    # every field is checked before a rate is asked for: bad input is a 422 even while rates are down
    checked = check_request(runtime, req)
    price, expires_in = checked.price, checked.expires_in
    owed = await (_open(runtime, req, price) if _is_open(req, price) else _in_asset(runtime, req, price))
    confirmations = _confirmations(runtime, owed.chain.name)
    tolerance = tolerated(owed.amount, runtime.settings.payments.underpaid_tolerance)
    metadata = dict(req.metadata or {})
    rate = owed.quote.rate if owed.quote else None

    def payment_at(index: int) -> NewPayment:
        at = now or utcnow()
        return NewPayment(
            id=new_id("pay"), merchant_id=merchant_id, status="pending", chain=owed.chain.name,
            chain_id=owed.chain.chain_id, asset=owed.symbol, token_address=owed.token_address,
            decimals=owed.decimals, amount_base_units=owed.amount, amount_received_base_units=0,
            derivation_index=index, address=runtime.deriver.derive(index), order_id=req.order_id,
            metadata_=metadata, confirmations_required=confirmations, overpaid=False, late=False,
            redirect_url=req.redirect_url, price_base_units=price.base_units if price else None,
            price_currency=price.currency if price else None, rate_value=str(rate.value) if rate else None,
            rate_source=rate.source if rate else None, rate_at=rate.at if rate else None,
            tolerance_base_units=tolerance, options=owed.options, created_at=at, updated_at=at,
            expires_at=at + timedelta(seconds=expires_in), detected_at=None, confirmed_at=None)

    return await runtime.payment_writer.create(payment_at, within=within)


@dataclass(frozen=True)
class _Owed:
    """What a new payment is owed in: its (home) chain, asset and amount in that asset's base units."""

    chain: ChainConfig
    symbol: str
    token_address: str | None
    decimals: int
    amount: int
    quote: quoting.Quote | None = None
    options: list[dict[str, Any]] | None = None


def _asset(runtime: Runtime, req: PaymentRequest) -> tuple[ChainConfig, Any]:
    """The request's chain and its asset (the native coin or a token), or `InvalidField`."""
    if req.chain is None:
        raise InvalidField("required (an open payment gives a price and neither chain nor asset)", "chain")
    chain = _chain(runtime, req.chain)
    if req.asset is None:
        raise InvalidField("required (an open payment gives a price and neither chain nor asset)", "asset")
    asset = chain.asset(req.asset)
    if asset is None:
        symbols = ", ".join([chain.native.symbol, *(t.symbol for t in chain.tokens)])
        raise InvalidField(f"unknown asset {req.asset!r} on {chain.name} (accepted: {symbols})", "asset")
    return chain, asset


def _amount(req: PaymentRequest, decimals: int) -> int:
    try:
        return parse_amount(req.amount, decimals)
    except AmountError as exc:
        raise InvalidField(f"amount {exc}", "amount") from None


async def _in_asset(runtime: Runtime, req: PaymentRequest, price: quoting.Price | None) -> _Owed:
    chain, asset = _asset(runtime, req)
    token = getattr(asset, "address", None)
    if price is not None:
        quote = await quoting.quote(runtime, price, asset.symbol, asset.decimals)
        return _Owed(chain, asset.symbol, token, asset.decimals, quote.amount, quote=quote)
    return _Owed(chain, asset.symbol, token, asset.decimals, _amount(req, asset.decimals))


async def _open(runtime: Runtime, req: PaymentRequest, price: quoting.Price) -> _Owed:
    options = await quoting.open_options(runtime, price)
    home = runtime.chains[options[0]["chain"]].config
    return _Owed(home, price.currency, None, price.minor_units, price.base_units, options=options)


def tolerated(amount: int, share: Decimal) -> int:
    """The base units a payment of `amount` may fall short by: ⌊amount × share⌋ (exact)."""
    if not share:
        return 0
    with localcontext(RATE_CONTEXT) as ctx:
        ctx.prec = len(str(amount)) + len(share.as_tuple().digits) + 2
        return int(ctx.multiply(Decimal(amount), share).to_integral_value(rounding=ROUND_FLOOR))


async def get_payment(session: AsyncSession, merchant_id: str, payment_id: str, *, lock: bool = False) -> Payment:
    """The merchant's payment; another merchant's id is simply not found."""
    query = select(Payment).where(Payment.id == payment_id, Payment.merchant_id == merchant_id)
    if lock:
        query = query.with_for_update()
    payment = await session.scalar(query)
    if payment is None:
        raise NotFound(f"no payment {payment_id}")
    return payment


async def list_payments(session: AsyncSession, merchant_id: str, *, status: str | None = None,
                        chain: str | None = None, order_id: str | None = None, asset: str | None = None,
                        created_from: datetime | None = None, created_before: datetime | None = None,
                        limit: int = 10, starting_after: str | None = None) -> tuple[list[Payment], bool]:
    """A page of payments, newest first, and whether more follow (cursor: `starting_after` id).

    Each filter given narrows it: `asset` is the payment's own asset symbol (an open payment's is its
    price's currency), `created_from` ≤ created_at < `created_before` (timezone-aware datetimes).
    """
    query = select(Payment).where(Payment.merchant_id == merchant_id)
    for column, value in ((Payment.status, status), (Payment.chain, chain), (Payment.order_id, order_id),
                          (Payment.asset, asset)):
        if value is not None:
            query = query.where(column == value)
    if created_from is not None:
        query = query.where(Payment.created_at >= created_from)
    if created_before is not None:
        query = query.where(Payment.created_at < created_before)
    if starting_after is not None:
        cursor = await session.scalar(select(Payment).where(Payment.id == starting_after,
                                                            Payment.merchant_id == merchant_id))
        if cursor is None:
            raise InvalidField(f"no payment {starting_after}", "starting_after")
        # the redundant `<=` is what an index can start from: PostgreSQL uses no arm of the OR as a bound
        query = query.where(Payment.created_at <= cursor.created_at,
                            or_(Payment.created_at < cursor.created_at,
                                and_(Payment.created_at == cursor.created_at, Payment.id < cursor.id)))
    rows = list(await session.scalars(query.order_by(Payment.created_at.desc(), Payment.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


async def cancel_payment(session: AsyncSession, merchant_id: str, payment_id: str) -> Payment:
    """pending → canceled, with its `payment.canceled` event in the same transaction."""
    payment = await get_payment(session, merchant_id, payment_id, lock=True)
    if payment.status != "pending":
        raise Conflict(f"payment is {payment.status}; only a pending payment can be canceled")
    payment.status = "canceled"
    payment.updated_at = utcnow()
    await record_payment_event(session, payment, "payment.canceled")
    return payment
