"""Notifiers: receivers of every payment event. The webhook notifier is the core's own plugin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EventEnvelope:
    """An event as notifiers see it: the outbox row's id, type, time and payment object."""

    id: str
    type: str
    created_at: str
    merchant_id: str
    data: dict[str, Any]


class Notifier:
    """Base of every notifier. `name` is unique; `notify` is awaited once per event (at least once)."""

    name: str = ""

    async def notify(self, event: EventEnvelope) -> None:
        raise NotImplementedError
