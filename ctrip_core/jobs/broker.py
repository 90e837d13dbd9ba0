"""The Dramatiq broker from settings: Redis for deployments, a stub broker for the embedded default."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware.asyncio import AsyncIO

from ctrip_core.config import Settings


def get_broker(settings: Settings, *, embedded: bool = False) -> dramatiq.Broker:
    """A broker that runs `async def` actors; also made Dramatiq's global one, as actors expect."""
    broker = StubBroker() if embedded else RedisBroker(url=settings.redis_url)
    broker.add_middleware(AsyncIO())
    dramatiq.set_broker(broker)
    return broker
