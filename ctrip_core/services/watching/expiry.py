"""Expiry: which open payments of a chain are past their `expires_at`, and by which clock.

Expiry never runs ahead of the scanner: a payment is due only once the last scanned block's
timestamp is at or past its `expires_at` (a stalled scanner expires nothing), and it is judged at
that block's time, not the wall clock's, so money that arrived in time but is scanned late still
counts. Where other chains may pay a chain's payments (an equivalent asset, payments.equivalent_assets),
the clock is the earliest of those chains' scanners too: a lagging one holds expiry back. The confirmer settles the due payments with the ones whose transfers changed
(`payment_state.settle` then decides; here is only who is due and when "now" is).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ctrip_core.db.models import ChainCursor, Payment
from ctrip_core.services.payments.payment_state import OPEN_STATUSES

#: The clock of a chain nothing has been scanned on yet: before every `expires_at`.
NEVER_SCANNED = datetime.min.replace(tzinfo=UTC)


def options_chains(payment) -> set[str]:
    """The chains an open payment may be paid on: its options' and its own."""
    return {payment.chain, *(option["chain"] for option in payment.options or ())}


def judging_chains(payment, paying: Iterable[str]) -> set[str]:
    """The chains whose scanners must all have passed a payment's expiry before it is judged: its
    own and those that may pay it (an open payment's options', else `paying`, the chains with an
    asset equivalent to its chain's: `Equivalence.paying_chains`)."""
    return options_chains(payment) if payment.options else {payment.chain, *paying}


def earliest(times: dict[str, datetime | None], chains: Iterable[str]) -> datetime:
    """The earliest last-scanned block time among `chains` (NEVER_SCANNED if one has none yet)."""
    names = set(chains)
    if not names:
        return datetime.max.replace(tzinfo=UTC)
    return min((times.get(name) or NEVER_SCANNED) for name in names)


async def cursor_times(session: AsyncSession) -> dict[str, datetime | None]:
    """Every chain's scanner's last block time (one small table)."""
    return dict((await session.execute(select(ChainCursor.chain, ChainCursor.last_block_time))).all())


@dataclass(frozen=True)
class DueForExpiry:
    #: The time open payments are judged at: the last scanned block's timestamp.
    clock: datetime
    payment_ids: set[str]
    #: Every chain's scanner's last block time, and the chains paying into this one: a payment is
    #: judged at the earliest clock of its `judging_chains`.
    times: dict[str, datetime | None]
    paying: frozenset[str] = frozenset()

    def clock_of(self, payment) -> datetime:
        return earliest(self.times, judging_chains(payment, self.paying))


async def due_for_expiry(session: AsyncSession, chain_name: str, paying: Iterable[str] = ()) -> DueForExpiry:
    """The open payments of `chain_name` due for expiry, judged at the clock of it and the chains
    `paying` into it (`Equivalence.paying_chains`); an open payment with options at the clock of
    every chain one of its options is on."""
    times = await cursor_times(session)
    clock = earliest(times, {chain_name, *paying})
    open_here = (Payment.chain == chain_name, Payment.status.in_(OPEN_STATUSES))
    due = set(await session.scalars(select(Payment.id).where(*open_here, Payment.options.is_(None),
                                                             Payment.expires_at <= clock)))
    candidates = await session.execute(select(Payment.id, Payment.chain, Payment.options, Payment.expires_at).where(
        *open_here, Payment.options.is_not(None), Payment.expires_at <= earliest(times, {chain_name})))
    due |= {row.id for row in candidates if row.expires_at <= earliest(times, options_chains(row))}
    return DueForExpiry(clock, due, times, frozenset(paying))
