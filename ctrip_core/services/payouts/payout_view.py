"""A payout (or refund) as the API, the webhook stream and `ctrip payouts` show it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import Payout, Sweep
from ctrip_core.money import format_amount
from ctrip_core.services.payments.payment_view import iso


def render_payout(payout: Payout, decimals: int, sweep: Sweep | None) -> dict[str, Any]:
    """A payout object; a refund (a payout with a payment) is object "refund" with its `payment_id`."""
    shown = {
        "id": payout.id, "object": "refund" if payout.payment_id else "payout", "chain": payout.chain,
        "asset": payout.asset,
        "token_address": payout.token_address, "address": payout.address,
        "amount": format_amount(int(payout.amount_base_units), decimals),
        "amount_base_units": str(payout.amount_base_units), "reference": payout.reference,
        "status": payout.status, "failure_reason": payout.failure_reason,
        "tx_hash": sweep.tx_hash if sweep is not None and sweep.submitted_at is not None else None,
        "created_at": iso(payout.created_at), "updated_at": iso(payout.updated_at),
    }
    if payout.payment_id:
        shown["payment_id"] = payout.payment_id
    else:
        shown["batch_id"] = payout.batch_id
    return shown


async def render(session: AsyncSession, payout: Payout, decimals: int) -> dict[str, Any]:
    sweep = await session.get(Sweep, payout.sweep_id) if payout.sweep_id else None
    return render_payout(payout, decimals, sweep)
