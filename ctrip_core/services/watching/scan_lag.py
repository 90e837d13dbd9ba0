"""How far each chain's scanner lags: what `/ready` and `ctrip_scan_lag_seconds{chain}` report.

The lag is the wall clock minus the timestamp of the last block the scanner processed
(`chain_cursors.last_block_time`, the clock expiry waits for). It grows on a chain that makes no
blocks (an idle Anvil) as much as behind a stalled scanner, so a chain counts as stalled only
when its lag exceeds the threshold *and* its node has blocks past the scanned one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.config import ChainConfig
from ctrip_core.config.settings import ScanSettings
from ctrip_core.db.models import ChainCursor


@dataclass(frozen=True)
class ScanPosition:
    """The last block a chain's scanner processed and that block's timestamp (None before the first)."""

    last_block: int
    last_block_time: datetime | None

    def lag_s(self, now: datetime) -> float | None:
        """Seconds the scanned block's timestamp trails `now` (never negative); None when unknown."""
        if self.last_block_time is None:
            return None
        return max(0.0, (now - self.last_block_time).total_seconds())


def max_lag_s(settings: ScanSettings, chain: ChainConfig) -> float:
    """The lag past which a chain with unscanned blocks is not ready: a number of block times, floored."""
    return max(settings.max_lag_min_s, settings.max_lag_blocks * chain.block_time_s)


async def scan_positions(session: AsyncSession) -> dict[str, ScanPosition]:
    """chain → its scanner's position, for every chain that has been scanned at all."""
    rows = await session.execute(select(ChainCursor.chain, ChainCursor.last_block, ChainCursor.last_block_time))
    return {chain: ScanPosition(last, at) for chain, last, at in rows}


def stalled(position: ScanPosition | None, head: int, limit_s: float, now: datetime) -> str | None:
    """Why the scanner of a chain whose node is at `head` counts as stalled, or None when it does not."""
    if position is None:
        return None  # not scanned yet: "not known", not evidence of a stall
    lag = position.lag_s(now)
    behind = head - position.last_block
    if lag is None or behind <= 0 or lag <= limit_s:
        return None
    return (f"scanner {behind} blocks behind the node (block {position.last_block} scanned, head {head}), "
            f"lagging {lag:.0f} s > {limit_s:.0f} s")
