"""`payouts.daily_limit`: what one merchant may send out of its payout wallet, per asset and chain,
in 24 hours (payouts and refunds alike, failed ones aside).

Checked twice: when a payout is asked for (409, counting every payout not failed), and by the
sweeper before it signs one (counting those it has signed), where an unapproved payout past the
limit waits as `awaiting_approval`: the operator's approval may exceed it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.config import ChainConfig, Settings
from ctrip_core.db.models import Payout
from ctrip_core.services.payouts.authorization import asset_limit

WINDOW = timedelta(hours=24)


def counts_as_sent():
    """A payout that may have moved money: not failed, or failed with the sweeper's record of signing
    it (its bytes may have been mined whatever its status says: set to failed in the database, or
    failed on a node's false "reverted" receipt). Refund room and the daily limit count these."""
    return (Payout.status != "failed") | Payout.sent_as.is_not(None)


async def paid_out_since(session: AsyncSession, payout: Payout, since: datetime, *, signed_only: bool) -> int:
    """The merchant's other payouts of the same asset and chain created since `since`, not failed (or
    signed: `counts_as_sent`)."""
    query = select(func.coalesce(func.sum(Payout.amount_base_units), 0)).where(
        Payout.merchant_id == payout.merchant_id, Payout.chain == payout.chain, Payout.asset == payout.asset,
        counts_as_sent(), Payout.created_at > since, Payout.id != payout.id)
    if signed_only:
        query = query.where(Payout.sweep_id.is_not(None) | Payout.sent_as.is_not(None))
    return int(await session.scalar(query))


async def over_daily_limit(session: AsyncSession, settings: Settings, chain: ChainConfig, payout: Payout,
                           now: datetime, *, signed_only: bool) -> str | None:
    """Why `payout` would take its merchant past `payouts.daily_limit`, or None when it would not."""
    limit = asset_limit(settings.payouts.daily_limit, chain, payout.asset)
    if limit is None:
        return None
    already = await paid_out_since(session, payout, now - WINDOW, signed_only=signed_only)
    if already + int(payout.amount_base_units) <= limit:
        return None
    return (f"over payouts.daily_limit of {settings.payouts.daily_limit[payout.asset.upper()]} {payout.asset} "
            f"per 24 hours ({already} base units already paid out)")
