"""JSON-RPC over HTTP with batching, timeouts, retries with backoff and failover across URLs.

Every chain adapter talks to its nodes through one `RpcClient`. A transport fault (timeout,
connection error, HTTP 5xx or 429, an answer that is not valid JSON-RPC) is retried on the next
URL after an exponential backoff with full jitter; a JSON-RPC error object from a healthy node is
not retried, except the rate-limit codes nodes use. When every attempt fails the caller gets
`RpcUnavailable`, never a partial answer, so a scanner can never skip blocks it did not read.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ctrip_core.config.node_url import scrubbed, shown

#: JSON-RPC error codes that mean "slow down", retried like a transport fault.
RATE_LIMIT_CODES = frozenset({-32005, -32090, 429})


class RpcError(Exception):
    """Base class of every JSON-RPC failure."""


class RpcTransportError(RpcError):
    """The node did not give a usable answer (network, timeout, 5xx, 429, malformed body)."""


class RpcResponseError(RpcError):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, method: str, code: int, message: str):
        super().__init__(f"{method}: error {code}: {message}")
        self.method, self.code, self.message = method, code, message


class RpcUnavailable(RpcError):
    """Every retry on every URL failed; `last` is the final fault."""

    def __init__(self, method: str, attempts: int, last: Exception):
        super().__init__(f"{method}: no usable answer after {attempts} attempts: {last}")
        self.last = last


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts in total (across URLs) and the backoff between them."""

    attempts: int = 5
    base_delay_s: float = 0.1
    max_delay_s: float = 5.0

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)]."""
        return random.uniform(0, min(self.max_delay_s, self.base_delay_s * 2 ** attempt))


FaultHook = Callable[[str, str], None]
#: `parse(method, params, result)`: checks/converts one result inside the retry loop.
Parse = Callable[[str, Sequence[Any], Any], Any]


class RpcClient:
    """A JSON-RPC client over several node URLs, used in failover order."""

    def __init__(self, urls: Sequence[str], *, timeout_s: float = 10.0, retry: RetryPolicy = RetryPolicy(),
                 max_batch: int = 100, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 on_fault: FaultHook | None = None, http: httpx.AsyncClient | None = None):
        if not urls:
            raise ValueError("at least one RPC URL is needed")
        self.urls = list(urls)
        self.retry = retry
        self.max_batch = max_batch
        self._sleep = sleep
        self._on_fault = on_fault
        self._preferred = 0
        self._ids = itertools.count(1)
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s),
                                               limits=httpx.Limits(max_connections=20))

    async def close(self) -> None:
        await self._http.aclose()

    async def call(self, method: str, *params: Any, parse: Parse | None = None) -> Any:
        """One request; returns its `result` (which may be None, e.g. an unknown block)."""
        (result,) = await self.batch([(method, list(params))], parse=parse)
        return result

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]], *, parse: Parse | None = None) -> list[Any]:
        """Many requests in as few HTTP round trips as `max_batch` allows; results in call order.

        `parse(method, params, result)`, when given, runs on each result inside the retry loop, so
        a `RpcTransportError` it raises (`MalformedAnswer`: a null block, a wrong shape) is retried
        on the next URL like any other bad answer instead of reaching the caller at once.
        """
        results: list[Any] = []
        for start in range(0, len(calls), self.max_batch):
            results.extend(await self._with_retries(list(calls[start:start + self.max_batch]), parse))
        return results

    async def _with_retries(self, calls: list[tuple[str, Sequence[Any]]], parse: Parse | None = None) -> list[Any]:
        last: Exception | None = None
        for attempt in range(self.retry.attempts):
            url = self.urls[(self._preferred + attempt) % len(self.urls)]
            try:
                results = await self._post(url, calls)
                if parse is not None:
                    results = [parse(method, params, raw) for (method, params), raw in zip(calls, results)]
            except RpcTransportError as exc:
                last = exc
                self._fault(url, exc)
                if attempt + 1 < self.retry.attempts:
                    await self._sleep(self.retry.delay(attempt))
                continue
            self._preferred = self.urls.index(url)
            return results
        raise RpcUnavailable(calls[0][0], self.retry.attempts, last)

    def _fault(self, url: str, exc: Exception) -> None:
        if self._on_fault:
            self._on_fault(shown(url), type(exc).__name__)

    async def _post(self, url: str, calls: list[tuple[str, Sequence[Any]]]) -> list[Any]:
        """One batch to one node. Errors name the node by `shown(url)`: its URL may hold an API key."""
        ids = [next(self._ids) for _ in calls]
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)} for i, (m, p) in zip(ids, calls)]
        node = shown(url)
        try:
            resp = await self._http.post(url, json=payload)
        except httpx.HTTPError as exc:
            raise RpcTransportError(f"{node}: {type(exc).__name__}: {scrubbed(str(exc), url)}") from None
        if resp.status_code != 200:
            raise RpcTransportError(f"{node}: HTTP {resp.status_code}")
        return self._unpack(node, calls, ids, resp)

    def _unpack(self, node: str, calls, ids: list[int], resp: httpx.Response) -> list[Any]:
        try:
            body = resp.json()
        except ValueError:
            raise RpcTransportError(f"{node}: answer is not JSON") from None
        if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
            raise RpcTransportError(f"{node}: answer is not a JSON-RPC batch")
        by_id = {item.get("id"): item for item in body}
        results = []
        for request_id, (method, _) in zip(ids, calls):
            item = by_id.get(request_id)
            if item is None:
                raise RpcTransportError(f"{node}: no answer for {method}")
            results.append(self._result(node, method, item))
        return results

    @staticmethod
    def _result(node: str, method: str, item: dict) -> Any:
        error = item.get("error")
        if error is not None:
            code = error.get("code", 0) if isinstance(error, dict) else 0
            message = error.get("message", "") if isinstance(error, dict) else str(error)
            if code in RATE_LIMIT_CODES:
                raise RpcTransportError(f"{node}: {method} rate limited ({code})")
            raise RpcResponseError(method, code, str(message)[:200])
        if "result" not in item:
            raise RpcTransportError(f"{node}: {method} answer has neither result nor error")
        return item["result"]
