"""Notifiers: receivers of every payment event. The webhook notifier is the core's own plugin.

The dispatcher reads the outbox (events not yet dispatched, oldest first), hands each event to
every registered notifier, and marks it dispatched only when all of them returned: a notifier
sees each event at least once, so it must be idempotent (the event id is the deduplication key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class EventEnvelope:
    """An event as notifiers see it: the outbox row's id, type, time and payment object."""

    id: str
    type: str
    created_at: str
    merchant_id: str
    payment_id: str | None
    payload: dict[str, Any]


class Notifier:
    """Base of every notifier. `name` is unique."""

    name: str = ""

    async def notify(self, event: EventEnvelope, session: AsyncSession) -> None:
        """Take the event. `session` is the dispatcher's transaction: rows written through it
        commit atomically with the event's "dispatched" mark. Raise to have the event retried."""
        raise NotImplementedError

    async def notify_many(self, events: list[EventEnvelope], session: AsyncSession) -> None:
        """Take a batch of events, in dispatch order (the dispatcher calls this, never `notify` directly).

        The default hands them to `notify` one by one; a notifier that can take a batch in fewer
        round trips (the webhook notifier: two queries and one insert) overrides it. Same transaction
        and retry rule as `notify`."""
        for event in events:
            await self.notify(event, session)
