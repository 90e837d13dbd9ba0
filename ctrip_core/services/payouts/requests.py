"""Payouts asked for by merchants: create (validated, sealed), read, list; the operator's approval.

Validation of meaning lives here, as for payments: chain, asset, address (EIP-55 checked when
mixed-case), amount against the asset's decimals. A payout above `payouts.approval_above` starts
as `awaiting_approval`; `approve_payout` (with the mnemonic) signs it and makes it `pending`.
Nothing here signs a transaction: the sweeper does (services/payouts/sending.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.chains.types import address_given
from ctrip_core.config import ChainConfig, Settings
from ctrip_core.db.models import Merchant, Payout
from ctrip_core.db.types import utcnow
from ctrip_core.ids import new_id
from ctrip_core.money import AmountError, parse_amount
from ctrip_core.services.authorizations import sign_statement
from ctrip_core.services.errors import Conflict, InvalidField, NotFound
from ctrip_core.services.payouts.authorization import approval_statement, needs_approval, payout_statement
from ctrip_core.services.payouts.payout_events import record_payout_event
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
                        merchant_id: str, req: PayoutRequest) -> Payout:
    """Validate, seal and add the payout (with its `payout.created` event); the caller commits."""
    chain = _chain(chains, req.chain)
    asset = chain.asset(req.asset) if isinstance(req.asset, str) else None
    if asset is None:
        symbols = ", ".join([chain.native.symbol, *(t.symbol for t in chain.tokens)])
        raise InvalidField(f"unknown asset {req.asset!r} on {chain.name} (accepted: {symbols})", "asset")
    try:
        address = address_given(req.address)
    except ValueError as exc:
        raise InvalidField(str(exc), "address") from None
    try:
        amount = parse_amount(req.amount, asset.decimals)
    except AmountError as exc:
        raise InvalidField(str(exc), "amount") from None
    if amount <= 0:
        raise InvalidField("must be more than zero", "amount")
    now = utcnow()
    payout = Payout(id=new_id("po"), merchant_id=merchant_id, chain=chain.name, asset=asset.symbol,
                    token_address=getattr(asset, "address", None), address=address, amount_base_units=amount,
                    reference=req.reference, created_at=now, updated_at=now)
    payout.status = "awaiting_approval" if needs_approval(settings.payouts.approval_above, chain, payout) \
        else "pending"
    payout.authorization = box.seal(payout_statement(payout))
    session.add(payout)
    await session.flush()
    await record_payout_event(session, payout, "payout.created", asset.decimals)
    return payout


async def get_payout(session: AsyncSession, merchant_id: str | None, payout_id: str, *, lock: bool = False) -> Payout:
    """The payout (of `merchant_id`, unless None: the operator's view); NotFound otherwise."""
    payout = await session.get(Payout, payout_id, with_for_update=lock)
    if payout is None or (merchant_id is not None and payout.merchant_id != merchant_id):
        raise NotFound(f"no payout {payout_id}", "id")
    return payout


async def list_payouts(session: AsyncSession, merchant_id: str | None, *, status: str | None = None,
                       chain: str | None = None, limit: int = 10,
                       starting_after: str | None = None) -> tuple[list[Payout], bool]:
    """A page of payouts, newest first, and whether more follow (cursor: `starting_after` id)."""
    query = select(Payout)
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


async def approve_payout(session: AsyncSession, signer: MnemonicSigner, payout_id: str) -> Payout:
    """awaiting_approval → pending, with the operator's signature of its statement; the caller commits."""
    payout = await get_payout(session, None, payout_id, lock=True)
    if payout.status != "awaiting_approval":
        raise Conflict(f"payout {payout_id} is {payout.status}; only a payout awaiting approval can be approved")
    if await session.get(Merchant, payout.merchant_id) is None:
        raise NotFound(f"no merchant {payout.merchant_id}", "merchant")
    payout.approval = sign_statement(signer.authorization_key(), approval_statement(payout))
    payout.status, payout.updated_at = "pending", utcnow()
    return payout
