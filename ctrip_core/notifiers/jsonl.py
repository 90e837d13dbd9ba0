"""The core's `jsonl` notifier: appends every event as one JSON line to `notifiers.jsonl_path`.

Off unless that setting is given. The example to copy for a notifier plugin of your own: a class
with a unique `name` and an idempotent `async notify(event, session)`, registered by the hook.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from ctrip_core.hookspecs import hookimpl
from ctrip_core.notifiers import Notifier


class JsonLinesNotifier(Notifier):
    name = "jsonl"

    def __init__(self, path: Path):
        self.path = path

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")

    async def notify(self, event, session) -> None:
        line = json.dumps({"id": event.id, "type": event.type, "created_at": event.created_at,
                           "merchant_id": event.merchant_id, "data": event.payload.get("data")}, sort_keys=True)
        await asyncio.to_thread(self._append, line)


@hookimpl
def ctrip_register_notifiers(register, settings):
    if settings.notifiers.jsonl_path:
        register(JsonLinesNotifier(Path(settings.notifiers.jsonl_path)))
