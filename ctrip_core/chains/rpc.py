"""JSON-RPC over HTTP with batching, timeouts, retries with backoff and failover across URLs.

Every chain adapter talks to its nodes through one `RpcClient`. A transport fault (timeout,
connection error, HTTP 5xx or 429, an answer that is not valid JSON-RPC) is retried on the next
URL after an exponential backoff with full jitter; a JSON-RPC error object from a healthy node is
not retried, except the rate-limit codes nodes use. When every attempt fails the caller gets
`RpcUnavailable`, never a partial answer, so a scanner can never skip blocks it did not read.

Given the chain id it must serve, the client asks each URL `eth_chainId` before its first use. A
URL that answers another id is never used (one log line, one `wrong_chain_id` fault for metrics)
while the others serve; a URL that gives no answer is "not known yet" and asked again at its next
turn. When every URL serves another chain, every call raises `ChainIdMismatch`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ctrip_core.config.node_url import scrubbed, shown

log = logging.getLogger("ctrip.rpc")

#: JSON-RPC error codes that mean "slow down", retried like a transport fault.
RATE_LIMIT_CODES = frozenset({-32005, -32090, 429})
#: The fault kind of a URL that answers another chain id than configured (never used again).
WRONG_CHAIN_ID = "wrong_chain_id"
#: Error messages of a node that refuses an eth_getLogs this wide or with this many results (Infura's
#: -32005 "query returned more than 10000 results", BSC's "exceed maximum block range: 5000", Alchemy's
#: "Log response size exceeded ... up to a 2K block range", QuickNode's "limited to a 10,000 range",
#: Ankr's "block range is too wide"): checked before the rate-limit codes, since -32005 means both.
RANGE_REFUSED = re.compile(r"more than \d[\d,]* results|block range|range (is )?too (large|wide|big)|"
                           r"exceeds? (the )?max(imum)? (block )?range|limited to a [\d,]+|response size|"
                           r"too many (results|logs|blocks)", re.IGNORECASE)
#: Error messages (lowercase) of a node that does not have the block asked about yet (geth and BSC,
#: Anvil, Nethermind/Erigon): a lagging node, not an answer, so retried on the next URL like a null block.
LAGGING_MESSAGES = ("header not found", "blockoutofrangeerror", "unknown block", "block not found",
                    "beyond current head", "invalid block range")


class RpcError(Exception):
    """Base class of every JSON-RPC failure."""


class RpcTransportError(RpcError):
    """The node did not give a usable answer (network, timeout, 5xx, 429, malformed body)."""


class RpcResponseError(RpcError):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, method: str, code: int, message: str):
        super().__init__(f"{method}: error {code}: {message}")
        self.method, self.code, self.message = method, code, message


class RangeRefused(RpcResponseError):
    """The node refuses an eth_getLogs of this range (too wide, or too many results): ask a narrower one.

    Raised at once, not retried: the caller halves the range (`chains/log_range.py`), and the client
    asks the next URL first from then on. HTTP 413 to a batch holding an eth_getLogs is read the same way.
    """


class ChainIdMismatch(Exception):
    """The nodes behind a chain's `rpc_url`s serve another chain than chains.yaml says (a configuration error)."""

    def __init__(self, chain: str, expected: int, answers: dict[str, int]):
        said = ", ".join(f"{shown(url)} answers {actual}" for url, actual in answers.items())
        super().__init__(f"chain {chain}: chains.yaml says chain_id {expected} but {said}")
        self.chain, self.expected, self.answers = chain, expected, answers


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
                 on_fault: FaultHook | None = None, http: httpx.AsyncClient | None = None,
                 chain_id: int | None = None, chain: str = "?"):
        if not urls:
            raise ValueError("at least one RPC URL is needed")
        self.urls = list(urls)
        self.retry = retry
        self.max_batch = max_batch
        self._sleep = sleep
        self._on_fault = on_fault
        #: The chain id every URL must answer before it is used (None: not checked), and whose it is.
        self.chain_id, self.chain = chain_id, chain
        #: url → the chain id it answered; a URL not in it is not known yet.
        self.answered: dict[str, int] = {}
        self._reported: set[str] = set()
        self._preferred = self.urls[0]
        self._ids = itertools.count(1)
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s),
                                               limits=httpx.Limits(max_connections=20))

    async def close(self) -> None:
        await self._http.aclose()

    async def call(self, method: str, *params: Any, parse: Parse | None = None) -> Any:
        """One request; returns its `result` (which may be None, e.g. an unknown block)."""
        (result,) = await self.batch([(method, list(params))], parse=parse)
        return result

    async def call_at(self, url: str, method: str, *params: Any) -> Any:
        """One request to the node at `url` only, one attempt: for probing what that node can do.

        Its fault is reported like any other and raised (`RpcTransportError`, `RpcResponseError`).
        """
        (result,) = await self.batch_at(url, [(method, list(params))])
        return result

    async def batch_at(self, url: str, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """One batch to the node at `url` only, one attempt (raw results, in call order): to hear
        that node's own answer, as a quorum must. Faults are reported and raised as in `call_at`."""
        try:
            if not await self._serves_the_chain(url):
                raise RpcTransportError(f"{shown(url)}: serves chain id {self.answered[url]}, not {self.chain_id}")
            return await self._post(url, list(calls))
        except RpcTransportError as exc:
            self._fault(url, type(exc).__name__)
            raise

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]], *, parse: Parse | None = None,
                    retry_errors: bool = False, max_batch: int | None = None) -> list[Any]:
        """Many requests in as few HTTP round trips as `max_batch` allows; results in call order.

        `parse(method, params, result)`, when given, runs on each result inside the retry loop, so
        a `RpcTransportError` it raises (`MalformedAnswer`: a null block, a wrong shape) is retried
        on the next URL like any other bad answer instead of reaching the caller at once.
        With `retry_errors` a JSON-RPC error object is retried the same way: for calls whose error
        means "not from this node" (a trace of a block a lagging node lacks, a tracer timeout).
        """
        size = min(self.max_batch, max_batch or self.max_batch)  # slow calls (traces) ask for smaller requests
        results: list[Any] = []
        for start in range(0, len(calls), size):
            results.extend(await self._with_retries(list(calls[start:start + size]), parse, retry_errors))
        return results

    async def _with_retries(self, calls: list[tuple[str, Sequence[Any]]], parse: Parse | None = None,
                            retry_errors: bool = False) -> list[Any]:
        last: Exception | None = None
        retried = (RpcTransportError, RpcResponseError) if retry_errors else RpcTransportError
        attempt = 0
        while attempt < self.retry.attempts:
            url = self._pick(attempt)
            try:
                if not await self._serves_the_chain(url):
                    continue  # never used again: the next usable URL takes this attempt
                results = await self._post(url, calls)
                if parse is not None:
                    results = [parse(method, params, raw) for (method, params), raw in zip(calls, results)]
            except RangeRefused:
                # the caller asks a narrower range; from the next URL, so one node refusing every
                # range (a tier limit, a pruned history) narrows the range but never stalls the chain
                self._fault(url, "range_refused")
                self._preferred = self._pick(attempt + 1)
                raise
            except retried as exc:
                last = exc
                self._fault(url, type(exc).__name__)
                attempt += 1
                if attempt < self.retry.attempts:
                    await self._sleep(self.retry.delay(attempt - 1))
                continue
            self._preferred = url
            return results
        raise RpcUnavailable(calls[0][0], self.retry.attempts, last)

    def _pick(self, attempt: int) -> str:
        """The URL for this attempt: failover order from the last one that answered, skipping other chains'."""
        usable = [url for url in self.urls if self.answered.get(url, self.chain_id) == self.chain_id]
        if not usable:
            raise ChainIdMismatch(self.chain, self.chain_id, dict(self.answered))
        start = usable.index(self._preferred) if self._preferred in usable else 0
        return usable[(start + attempt) % len(usable)]

    async def _serves_the_chain(self, url: str) -> bool:
        """Whether `url` serves the configured chain, asking it once (a transport fault: not known yet)."""
        if self.chain_id is None:
            return True
        if url not in self.answered:
            await self._ask_chain_id(url)
        return self.answered[url] == self.chain_id

    async def _ask_chain_id(self, url: str, *, report: bool = True) -> None:
        try:
            (raw,) = await self._post(url, [("eth_chainId", [])])
        except RpcResponseError as exc:  # an error answer (maintenance, a gateway) is "not known yet"
            raise RpcTransportError(f"{shown(url)}: eth_chainId: {exc}") from None
        try:
            actual = int(raw, 16) if isinstance(raw, str) and raw.startswith("0x") else None
        except ValueError:
            actual = None
        if actual is None:
            raise RpcTransportError(f"{shown(url)}: eth_chainId: expected a hex quantity, got {raw!r:.100}")
        self.answered.setdefault(url, actual)
        if report:
            self._report_wrong(url)

    def _report_wrong(self, url: str) -> None:
        """One log line and one `wrong_chain_id` fault per URL of another chain, ever."""
        actual = self.answered.get(url)
        if self.chain_id is None or actual in (None, self.chain_id) or url in self._reported:
            return
        self._reported.add(url)
        log.error("chain %s: %s answers chain id %d but chains.yaml says %d; this URL is not used",
                  self.chain, shown(url), actual, self.chain_id)
        self._fault(url, WRONG_CHAIN_ID)

    async def check_chain_ids(self) -> dict[str, int | None]:
        """Ask every URL not asked yet its chain id, once each: url → the id it answered, None if no answer.

        URLs of another chain are reported only when another URL may serve the chain; when none can,
        the caller's `ChainIdMismatch` is the one line that says so.
        """
        for url in self.urls:
            if url in self.answered:
                continue
            try:
                await self._ask_chain_id(url, report=False)
            except RpcError as exc:
                self._fault(url, type(exc).__name__)
        answers = {url: self.answered.get(url) for url in self.urls}
        if any(actual in (None, self.chain_id) for actual in answers.values()):
            for url in self.urls:
                self._report_wrong(url)
        return answers

    def _fault(self, url: str, kind: str) -> None:
        if self._on_fault:
            self._on_fault(shown(url), kind)

    async def _post(self, url: str, calls: list[tuple[str, Sequence[Any]]]) -> list[Any]:
        """One batch to one node. Errors name the node by `shown(url)`: its URL may hold an API key."""
        ids = [next(self._ids) for _ in calls]
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)} for i, (m, p) in zip(ids, calls)]
        node = shown(url)
        try:
            resp = await self._http.post(url, json=payload)
        except httpx.HTTPError as exc:
            raise RpcTransportError(f"{node}: {type(exc).__name__}: {scrubbed(str(exc), url)}") from None
        if resp.status_code == 413 and any(method == "eth_getLogs" for method, _ in calls):
            raise RangeRefused("eth_getLogs", 413, "HTTP 413: answer too large")
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
            if any(text in str(message).lower() for text in LAGGING_MESSAGES):
                raise RpcTransportError(f"{node}: {method}: node lacks the block asked about ({str(message)[:80]})")
            if method == "eth_getLogs" and RANGE_REFUSED.search(str(message)):
                raise RangeRefused(method, code, str(message)[:200])
            if code in RATE_LIMIT_CODES:
                raise RpcTransportError(f"{node}: {method} rate limited ({code})")
            raise RpcResponseError(method, code, str(message)[:200])
        if "result" not in item:
            raise RpcTransportError(f"{node}: {method} answer has neither result nor error")
        return item["result"]
