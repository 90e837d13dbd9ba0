"""Reading a payment for the hosted checkout: its rendered object and, for the page, its merchant's name.

Apart from `public`, because this is the database side: the routes call it, and an id that cannot
be one is answered without a query (the page is public, so malformed ids are cheap to refuse).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import Merchant, Payment
from ctrip_core.services.checkout.public import valid_payment_id
from ctrip_core.services.payments.payment_view import render_one


async def load_checkout(sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]], payment_id: str, *,
                        merchant: bool = False) -> tuple[dict[str, Any], str | None] | None:
    """(payment object, merchant name when asked) or None; never queries for an impossible id.

    `sessions` is a read-session factory (`runtime.read_sessions`): the event stream holds it past
    the request, outside the app context.
    """
    if not valid_payment_id(payment_id):
        return None
    async with sessions() as session:
        payment = await session.get(Payment, payment_id)
        if payment is None:
            return None
        rendered = await render_one(session, payment)
        name = None
        if merchant:
            name = await session.scalar(select(Merchant.name).where(Merchant.id == payment.merchant_id))
    return rendered, name
