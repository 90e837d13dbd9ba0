"""Payouts and refunds asked for by merchants: create (validated, sealed), read, list; the
operator's approval.

A refund is a payout tied to a payment: by default all the payment received in its asset on its
chain (less what was already refunded, failed refunds aside), to the address that sent it; never
more (409). A refund to any other address needs the key scope `payouts` as well.

Validation of meaning lives here, as for payments: chain, asset, address (EIP-55 checked when
mixed-case), amount against the asset's decimals. A payout above `payouts.approval_above` starts
as `awaiting_approval`; `approve_payout` (with the mnemonic) signs it and makes it `pending`.
Nothing here signs a transaction: the sweeper does (services/payouts/sending.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.chains.types import address_given
from ctrip_core.config import ChainConfig, Settings
from ctrip_core.db.models import Merchant, Payment, Payout, Transfer
from ctrip_core.db.types import utcnow
from ctrip_core.ids import new_id
from ctrip_core.money import AmountError, format_amount, parse_amount
from ctrip_core.services.authorizations import sign_statement
from ctrip_core.services.errors import Conflict, InvalidField, MissingScope, NotFound
from ctrip_core.services.payouts.authorization import (approval_statement, needs_approval, payout_statement,
                                                       sealed_by_api)
from ctrip_core.services.payouts.limits import counts_as_sent, over_daily_limit
from ctrip_core.services.payouts.payout_events import record_payout_event
from ctrip_core.services.text_fields import checked_text
from ctrip_core.services.webhooks.secret_box import SecretBox
from ctrip_core.wallet import MnemonicSigner


@dataclass(frozen=True)
class PayoutRequest:
    chain: Any
    asset: Any
    address: Any
    amount: Any
    reference: str | None = None


def _chain(chains: dict[str, ChainConfig], name: Any) -> ChainConfig:
    chain = chains.get(name) if isinstance(name, str) else None
    if chain is None:
        raise InvalidField(f"unknown chain {name!r} (configured: {', '.join(sorted(chains)) or 'none'})", "chain")
    return chain


def decimals_of(chains: dict[str, ChainConfig], payout: Payout) -> int:
    chain = chains.get(payout.chain)
    asset = chain.asset(payout.asset) if chain is not None else None
    return asset.decimals if asset is not None else 0


async def create_payout(session: AsyncSession, settings: Settings, chains: dict[str, ChainConfig], box: SecretBox,
                        merchant_id: str, req: PayoutRequest, *, batch_id: str | None = None) -> Payout:
    """Validate, seal and add the payout (with its `payout.created` event); the caller commits."""
    chain = _chain(chains, req.chain)
    asset = _asset(chain, req.asset)
    address = _address(req.address)
    amount = _amount(req.amount, asset.decimals)
    return await _add(session, settings, box, chain, asset, Payout(
        id=new_id("po"), merchant_id=merchant_id, address=address, amount_base_units=amount,
        reference=checked_text(req.reference, "reference"), batch_id=batch_id))


#: The most payouts one batch may hold.
BATCH_MAX = 100


async def create_batch(session: AsyncSession, settings: Settings, chains: dict[str, ChainConfig], box: SecretBox,
                       merchant_id: str, items: list[PayoutRequest]) -> tuple[str, list[Payout]]:
    """All the items as payouts of one batch, or none: the first refused item raises, its field
    named `items[i].field`, and the caller's rollback takes the others with it."""
    if not 1 <= len(items) <= BATCH_MAX:
        raise InvalidField(f"a batch holds 1 to {BATCH_MAX} payouts, not {len(items)}", "items")
    batch_id, payouts = new_id("pob"), []
    for i, item in enumerate(items):
        try:
            payouts.append(await create_payout(session, settings, chains, box, merchant_id, item, batch_id=batch_id))
        except (InvalidField, Conflict) as exc:
            raise type(exc)(f"items[{i}]: {exc.message}", f"items[{i}].{exc.field}") from None
    return batch_id, payouts


@dataclass(frozen=True)
class RefundRequest:
    amount: Any = None
    asset: Any = None
    address: Any = None
    chain: Any = None
    reference: str | None = None


async def refundable(session: AsyncSession, payment: Payment, chain: str, token_address: str | None
                     ) -> tuple[int, int, set[str]]:
    """(received, already refunded, senders) of the payment in that asset on that chain: confirmed
    transfers (late ones too), and refunds that have not failed or that the sweeper signed."""
    same_token = Transfer.token_address.is_(None) if token_address is None else \
        func.lower(Transfer.token_address) == token_address.lower()
    rows = (await session.execute(select(Transfer.amount_base_units, Transfer.from_address).where(
        Transfer.payment_id == payment.id, Transfer.chain == chain, Transfer.state == "confirmed", same_token))).all()
    same_refund_token = Payout.token_address.is_(None) if token_address is None else \
        func.lower(Payout.token_address) == token_address.lower()
    refunded = await session.scalar(select(func.coalesce(func.sum(Payout.amount_base_units), 0)).where(
        Payout.payment_id == payment.id, Payout.chain == chain, counts_as_sent(), same_refund_token))
    return sum(int(a) for a, _ in rows), int(refunded), {f for _, f in rows}


async def create_refund(session: AsyncSession, settings: Settings, chains: dict[str, ChainConfig], box: SecretBox,
                        merchant_id: str, payment_id: str, req: RefundRequest, *, may_pay_anywhere: bool) -> Payout:
    """Validate, bound by what the payment received, seal and add the refund (with `refund.created`).

    `may_pay_anywhere`: the key has the `payouts` scope, so the refund may go to an address other
    than the payment's sender. Concurrent refunds of one payment are serialized on its row."""
    reference = checked_text(req.reference, "reference")
    payment = await session.get(Payment, payment_id, with_for_update=True)
    if payment is None or payment.merchant_id != merchant_id:
        raise NotFound(f"no payment {payment_id}", "id")
    chain = _chain(chains, req.chain if req.chain is not None else payment.chain)
    asset = _asset(chain, req.asset if req.asset is not None else payment.asset)
    token = getattr(asset, "address", None)
    received, refunded, senders = await refundable(session, payment, chain.name, token)
    if req.address is not None:  # who may be paid is checked first: a 403 says nothing about amounts
        address = _address(req.address)
        if address.lower() not in {s.lower() for s in senders} and not may_pay_anywhere:
            raise MissingScope("a refund to an address that did not pay needs the 'payouts' scope", "address")
    available = received - refunded
    if available <= 0:
        raise Conflict(f"nothing to refund: the payment received {received} and {refunded} was refunded "
                       f"(base units of {asset.symbol} on {chain.name})", "amount")
    amount = available if req.amount is None else _amount(req.amount, asset.decimals)
    if amount > available:
        raise Conflict(f"more than can be refunded: at most {format_amount(available, asset.decimals)} "
                       f"{asset.symbol}", "amount")
    if req.address is None:
        if len(senders) != 1:
            raise InvalidField("the payment was paid from several addresses: say which one to refund", "address")
        address = _address(next(iter(senders)))
    return await _add(session, settings, box, chain, asset, Payout(
        id=new_id("rf"), merchant_id=merchant_id, payment_id=payment.id, address=address,
        amount_base_units=amount, reference=reference))


def _asset(chain: ChainConfig, symbol: Any):
    asset = chain.asset(symbol) if isinstance(symbol, str) else None
    if asset is None:
        symbols = ", ".join([chain.native.symbol, *(t.symbol for t in chain.tokens)])
        raise InvalidField(f"unknown asset {symbol!r} on {chain.name} (accepted: {symbols})", "asset")
    return asset


def _address(value: Any) -> str:
    try:
        return address_given(value)
    except ValueError as exc:
        raise InvalidField(str(exc), "address") from None


def _amount(value: Any, decimals: int) -> int:
    try:
        amount = parse_amount(value, decimals)
    except AmountError as exc:
        raise InvalidField(str(exc), "amount") from None
    if amount <= 0:
        raise InvalidField("must be more than zero", "amount")
    return amount


async def _add(session: AsyncSession, settings: Settings, box: SecretBox, chain: ChainConfig, asset,
               payout: Payout) -> Payout:
    """Complete (chain, asset, status, timestamps), seal and add `payout` with its created event."""
    now = utcnow()
    payout.chain, payout.asset, payout.token_address = chain.name, asset.symbol, getattr(asset, "address", None)
    payout.created_at = payout.updated_at = now
    too_much = await over_daily_limit(session, settings, chain, payout, now, signed_only=False)
    if too_much:
        raise Conflict(too_much, "amount")
    payout.status = "awaiting_approval" if needs_approval(settings.payouts.approval_above, chain, payout) \
        else "pending"
    payout.authorization = box.seal(payout_statement(payout))
    session.add(payout)
    await session.flush()
    await record_payout_event(session, payout, "created", asset.decimals)
    return payout


async def get_payout(session: AsyncSession, merchant_id: str | None, payout_id: str, *, lock: bool = False,
                     refund: bool | None = None) -> Payout:
    """The payout (of `merchant_id`, unless None: the operator's view; `refund` True/False: only a
    refund / only a payout); NotFound otherwise."""
    payout = await session.get(Payout, payout_id, with_for_update=lock)
    if payout is None or (merchant_id is not None and payout.merchant_id != merchant_id) or \
            (refund is not None and refund != (payout.payment_id is not None)):
        raise NotFound(f"no {'refund' if payout_id.startswith('rf_') else 'payout'} {payout_id}", "id")
    return payout


async def list_payouts(session: AsyncSession, merchant_id: str | None, *, status: str | None = None,
                       chain: str | None = None, limit: int = 10, starting_after: str | None = None,
                       refunds: bool | None = False, payment_id: str | None = None,
                       batch_id: str | None = None) -> tuple[list[Payout], bool]:
    """A page of payouts (`refunds=True`: refunds, None: both), newest first, and whether more follow
    (cursor: `starting_after` id)."""
    query = select(Payout)
    if refunds is not None:
        query = query.where(Payout.payment_id.is_not(None) if refunds else Payout.payment_id.is_(None))
    if payment_id is not None:
        query = query.where(Payout.payment_id == payment_id)
    if batch_id is not None:
        query = query.where(Payout.batch_id == batch_id)
    if merchant_id is not None:
        query = query.where(Payout.merchant_id == merchant_id)
    for column, value in ((Payout.status, status), (Payout.chain, chain)):
        if value is not None:
            query = query.where(column == value)
    if starting_after is not None:
        cursor = await session.get(Payout, starting_after)
        if cursor is None or (merchant_id is not None and cursor.merchant_id != merchant_id):
            raise InvalidField(f"no payout {starting_after}", "starting_after")
        query = query.where(or_(Payout.created_at < cursor.created_at,
                                and_(Payout.created_at == cursor.created_at, Payout.id < cursor.id)))
    rows = list(await session.scalars(query.order_by(Payout.created_at.desc(), Payout.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


async def approve_payout(session: AsyncSession, signer: MnemonicSigner, box: SecretBox, payout_id: str) -> Payout:
    """awaiting_approval → pending, with the operator's signature of its statement; the caller commits.
    Only a payout the API sealed (a row written in the database is not approved: Conflict)."""
    payout = await get_payout(session, None, payout_id, lock=True)
    if payout.status != "awaiting_approval":
        raise Conflict(f"payout {payout_id} is {payout.status}; only a payout awaiting approval can be approved")
    if not sealed_by_api(box, payout):
        raise Conflict(f"payout {payout_id} is not sealed by the API with secret_key (written in the database?): "
                       f"not approved")
    if await session.get(Merchant, payout.merchant_id) is None:
        raise NotFound(f"no merchant {payout.merchant_id}", "merchant")
    payout.approval = sign_statement(signer.authorization_key(), approval_statement(payout))
    payout.status, payout.updated_at = "pending", utcnow()
    return payout
