"""Two dispatchers at once keep each payment's events in order (issue 14, defect 9): while one
dispatcher holds event 1 of a payment locked, the other must not hand out event 2 of it.
"""

from __future__ import annotations

import asyncio

from ctrip_core.notifiers import Notifier
from ctrip_core.plugins import collect_notifiers
from ctrip_core.services.webhooks.delivery_sender import deliver_due
from ctrip_core.services.outbox.dispatch import dispatch_events
from webhooks_support import (add_endpoint, db_url, drain, emit, hooks, http, merchant_id,  # noqa: F401
                              new_payment, rt, runtimes)


async def test_a_second_dispatcher_does_not_overtake_an_event_held_by_the_first(rt, http, hooks, merchant_id):
    receiver = hooks()
    await add_endpoint(rt, merchant_id, receiver.url)
    payment = await new_payment(rt, merchant_id)
    first, second = await emit(rt, payment, "payment.detected", "payment.confirmed")
    holding, release = asyncio.Event(), asyncio.Event()

    class Holding(Notifier):
        """A notifier that is slow with event 1: its dispatcher keeps that event's row locked."""

        async def notify(self, event, session):
            holding.set()
            await release.wait()

    slow = asyncio.create_task(dispatch_events(rt, [Holding(), *collect_notifiers(rt.pm, rt.settings)], limit=1))
    await asyncio.wait_for(holding.wait(), 30)
    await dispatch_events(rt, collect_notifiers(rt.pm, rt.settings))  # the other dispatcher, meanwhile
    await deliver_due(rt, http)
    assert second not in receiver.ids(), "event 2 went out while event 1 was still being dispatched"

    release.set()
    assert await asyncio.wait_for(slow, 30) == 1
    await drain(rt, http)
    assert receiver.ids() == [first, second]
