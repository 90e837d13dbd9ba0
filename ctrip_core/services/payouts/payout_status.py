"""A payout's status follows its transaction (the sweep that sends it), with its payout.* event:
signed → pending, broadcast → submitted, mined past the confirmation rule → succeeded, reverted or
refused for want of funds → failed; a succeeded payout whose block a reorg replaced → submitted
again, and the same signed bytes are broadcast again: its nonce can be used once, so it is never
paid twice. Events (CONTRACT §5): payout.succeeded and payout.failed; a payout succeeded again
after a reorg announces payout.succeeded again (as a payment's payment.swept)."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.config import ChainConfig
from ctrip_core.db.models import FINAL_PAYOUT_STATUSES, Payout, Sweep
from ctrip_core.db.types import utcnow
from ctrip_core.services.payouts.payout_events import record_payout_event

log = logging.getLogger(__name__)
_STATUS_OF_SWEEP = {"pending": "pending", "submitted": "submitted", "done": "succeeded", "failed": "failed"}


async def follow_sweep(session: AsyncSession, chain: ChainConfig, sweep: Sweep) -> None:
    """Bring the payout `sweep` sends (if any) to the status of `sweep`, in the caller's transaction."""
    if sweep.payout_id is None:
        return
    payout = await session.get(Payout, sweep.payout_id, with_for_update=True)
    if payout is None or payout.sweep_id != sweep.id:
        return
    status = _STATUS_OF_SWEEP[sweep.state]
    if status == payout.status:
        return
    if payout.status == "succeeded":
        log.warning("payout %s: its block was replaced by a reorg; the same transaction is sent again", payout.id)
    payout.status, payout.updated_at = status, utcnow()
    if status == "failed":
        payout.failure_reason = f"refused: the node refused or reverted it: {sweep.error or 'unknown'}"[:500]
    if status in FINAL_PAYOUT_STATUSES:
        asset = chain.asset(payout.asset)
        await record_payout_event(session, payout, status, asset.decimals if asset else 0)
