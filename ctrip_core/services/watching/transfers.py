"""A payment's recorded transfers, by payment id: what settling a payment reads, in scanning and in
confirming alike (each settles with every transfer of the payment, not just the ones it touched)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import Transfer


async def transfers_of(session: AsyncSession, payment_ids: Sequence[str]) -> dict[str, list[Transfer]]:
    out: dict[str, list[Transfer]] = defaultdict(list)
    if payment_ids:
        for t in await session.scalars(select(Transfer).where(Transfer.payment_id.in_(payment_ids))):
            out[t.payment_id].append(t)
    return out
