"""The dashboard's payment search: one box for a payment id, a deposit address, a transaction hash
or an order id, told apart by their shape; always within the user's own merchant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.chains.types import ADDRESS_RE, HASH32_RE, eip55
from ctrip_core.db.models import Payment, Transfer
from ctrip_core.services.checkout.public import valid_payment_id

LIMIT = 50


async def find_payments(session: AsyncSession, merchant_id: str, text: str) -> list[Payment]:
    """The merchant's payments `text` names, newest first (at most LIMIT)."""
    text = text.strip()[:200]
    query = select(Payment).where(Payment.merchant_id == merchant_id)
    if valid_payment_id(text):
        query = query.where(Payment.id == text)
    elif ADDRESS_RE.fullmatch(text):
        query = query.where(Payment.address == eip55(text[2:].lower()))
    elif HASH32_RE.fullmatch(text):
        query = query.where(Payment.id.in_(select(Transfer.payment_id).where(Transfer.tx_hash.in_({text, text.lower()}))))
    else:
        query = query.where(Payment.order_id == text)
    return list(await session.scalars(query.order_by(Payment.created_at.desc(), Payment.id.desc()).limit(LIMIT)))
