"""New-head subscriptions: a chain with a `ws_url` wakes the scheduler at each new block.

Without one, a transfer waits for the chain's next periodic tick (up to `block_time_s`) before a
scan is even enqueued. With `eth_subscribe("newHeads")` the scheduler enqueues the scan as soon
as the node announces the block. The periodic ticks stay: a websocket drops, a node stops
sending, a provider closes idle subscriptions; then the scheduler is merely slower, never blind.
So a failure here is logged and retried with backoff, and never reaches the scheduler.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from ctrip_core.config.node_url import scrubbed

log = logging.getLogger(__name__)

SUBSCRIBE = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]})
MAX_MESSAGE_BYTES = 1 << 20  # a header is about 1 KiB; anything this big is not one
ANSWER_TIMEOUT_S = 10.0


class SubscriptionRefused(Exception):
    """The node answered eth_subscribe with an error or nonsense."""


async def watch_heads(chain: str, ws_url: str, on_head: Callable[[str], None], *,
                      backoff_s: tuple[float, float] = (1.0, 30.0)) -> None:
    """Call `on_head(chain)` at every newHeads notification, reconnecting forever; cancel to stop."""
    delay = backoff_s[0]
    while True:
        try:
            await _subscribed(chain, ws_url, on_head)
            delay = backoff_s[0]  # it ran and ended cleanly (the node closed): start again promptly
        except (OSError, WebSocketException, TimeoutError, ValueError, SubscriptionRefused) as exc:
            log.warning("newHeads of %s unavailable (%s: %s); retrying in %.0f s; scans keep their "
                        "block-time schedule meanwhile", chain, type(exc).__name__, scrubbed(str(exc), ws_url), delay)
        except Exception as exc:  # noqa: BLE001 - a background helper: anything else is logged, never fatal
            # No traceback: its messages could quote the URL, which may hold a provider's API key.
            log.error("newHeads of %s failed (%s: %s); retrying in %.0f s", chain, type(exc).__name__,
                      scrubbed(str(exc), ws_url), delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, backoff_s[1])


async def _subscribed(chain: str, ws_url: str, on_head: Callable[[str], None]) -> None:
    async with connect(ws_url, open_timeout=ANSWER_TIMEOUT_S, max_size=MAX_MESSAGE_BYTES) as ws:
        await ws.send(SUBSCRIBE)
        answer = json.loads(await asyncio.wait_for(ws.recv(), ANSWER_TIMEOUT_S))
        if not isinstance(answer, dict) or not isinstance(answer.get("result"), str):
            raise SubscriptionRefused(f"eth_subscribe answered {str(answer)[:200]}")
        log.info("newHeads of %s subscribed", chain)
        async for message in ws:
            note = json.loads(message)
            if isinstance(note, dict) and note.get("method") == "eth_subscription":
                on_head(chain)
