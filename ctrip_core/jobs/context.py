"""What actors run against: one `Runtime` per worker process, built lazily on the worker's event loop.

Dramatiq's AsyncIO middleware runs every async actor on one event-loop thread per process; the
database pool and HTTP clients must live on that loop, so the runtime is built on first use there
and closed when the worker shuts down (this class is also the Dramatiq middleware doing that).
"""

from __future__ import annotations

import asyncio
import logging

from dramatiq import Middleware
from dramatiq.middleware.asyncio import get_event_loop_thread

from ctrip_core.config import Settings
from ctrip_core.jobs.metrics import JobMetrics
from ctrip_core.jobs.sweep_conditions import SweepConditions
from ctrip_core.runtime import Role, Runtime, build_runtime, check_role

log = logging.getLogger(__name__)


class JobContext(Middleware):
    def __init__(self, settings: Settings, role: Role, *, runtime: Runtime | None = None):
        check_role(settings, role)
        self.settings, self.role = settings, role
        self.metrics = JobMetrics()
        self.sweep_conditions = SweepConditions(self.metrics.registry)
        self._runtime = runtime
        self._lock: asyncio.Lock | None = None
        self._http = None
        self._sender = None
        self._notifiers: list | None = None
        self._keys = None

    async def runtime(self) -> Runtime:
        if self._runtime is None:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                if self._runtime is None:
                    self._runtime = build_runtime(self.settings, self.role, on_fault=self.metrics.rpc_fault)
        return self._runtime

    def http(self):
        """The HTTP client deliveries share (connection pooling across sends), made on the worker loop."""
        if self._http is None:
            from ctrip_core.services.webhooks.transport import webhook_client

            self._http = webhook_client(allow_private=self.settings.webhooks.allow_private_targets)
        return self._http

    async def sender(self):
        """The process's webhook sender (sends in flight per endpoint, recorded as they finish)."""
        if self._sender is None:
            from ctrip_core.services.webhooks.delivery_sender import DeliverySender

            self._sender = DeliverySender(await self.runtime(), self.http(), on_recorded=self.metrics.webhook_outcomes)
        return self._sender

    async def sweep_keys(self):
        """Signing keys, derived from the mnemonic only in a process whose role may hold it."""
        if self.role not in ("sweeper", "dev"):
            raise RuntimeError(f"a {self.role} process does not hold signing keys")
        if self._keys is None:
            from ctrip_core.services.sweeps.keys import SweepKeys

            runtime = await self.runtime()
            self._keys = SweepKeys.from_settings(self.settings, runtime.chain_configs())
        return self._keys

    async def notifiers(self) -> list:
        if self._notifiers is None:
            from ctrip_core.plugins import collect_notifiers

            self._notifiers = collect_notifiers((await self.runtime()).pm, self.settings)
        return self._notifiers

    async def close(self) -> None:
        if self._sender is not None:
            await self._sender.close()  # the sends in flight end by their deadline, and are recorded
            self._sender = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._runtime is not None:
            await self._runtime.close()
            self._runtime = None

    def before_worker_shutdown(self, broker, worker) -> None:
        thread = get_event_loop_thread()
        if self._runtime is not None and thread is not None:
            try:
                thread.run_coroutine(self.close())
            except Exception:  # noqa: BLE001 - shutting down anyway
                log.exception("closing the job runtime failed")
