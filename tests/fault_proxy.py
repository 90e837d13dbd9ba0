"""A fault-injecting JSON-RPC HTTP proxy to put in front of a real node (Anvil) in tests.

Not a test module: tests under tests/ import it as `from fault_proxy import FaultProxy` (pytest's
prepend import mode puts tests/ on sys.path when it imports tests/conftest.py).

    with FaultProxy(anvil.rpc_url) as proxy:
        client = RpcClient([proxy.url], timeout_s=0.5, retry=RetryPolicy(3, 0.001, 0.001))
        proxy.fail_next(2, "http500")            # the next 2 HTTP requests answer 500
        assert await client.call("eth_chainId") == "0x7a69"
        assert proxy.requests == 3               # 2 faults + 1 forwarded

The proxy runs a `ThreadingHTTPServer` on 127.0.0.1 (a free port chosen by the OS) in a background
thread and forwards each POST body unchanged to the upstream node with a synchronous httpx client.
The happy path never sleeps; only the "timeout" fault holds a request (bounded by `hold_s`, and
cut short by `stop()`).

Faults are rules consumed one per HTTP request (a JSON-RPC batch is one request):
`fail_next(n, mode, method=None)` makes the next `n` requests, optionally only those containing a
call to `method`, answer with `mode`. Rules queue in the order given; a request takes the first
rule that applies to it. Modes:

=================  ===================================================================
"http500"          HTTP 500 with a text body
"http429"          HTTP 429 Too Many Requests (with Retry-After: 1)
"timeout"          hold the request `hold_s` seconds (default 2), then close without an answer;
                   give the client a shorter timeout than that
"garbage"          HTTP 200 with a body that is not JSON
"wrong_shape"      HTTP 200 with a JSON object where a batch (list) was expected
"null_result"      forwarded, then every `result` replaced by null (a valid JSON-RPC answer!)
"missing_ids"      forwarded, then the `id` of every answer removed
"rpc_error"        HTTP 200, every call answered with the JSON-RPC error -32000 (not forwarded)
"rate_limit_code"  HTTP 200, every call answered with the JSON-RPC error -32005 (not forwarded)
"drop"             the request is read, then the connection closed without an answer
"shuffled"         forwarded, then the answers of a batch returned in reverse order (allowed by
                   JSON-RPC 2.0: clients must match answers by id); not a fault to retry
"null_calls"       forwarded, then the `result` of the calls to the rule's `method` (every call
                   when no method is given) replaced by null, the batch's other answers kept: one
                   receipt a fallback node does not have yet
=================  ===================================================================

`chaos(rate, modes, seed=...)` (persistent until `chaos(0)` or `clear()`) gives each request that no
queued rule takes a fault with probability `rate`, its mode drawn from `modes`, both by a
`random.Random(seed)`: a flaky provider for soak tests. Which request gets which fault depends on the
order requests arrive in, so only the rate and the mix replay, not the exact requests.

`behind(n)` (persistent until `behind(0)` or `clear()`) makes the node look `n` blocks behind the
real one: `eth_blockNumber` answers head-n, `eth_getBlockByNumber("latest")` answers block head-n,
and `eth_getBlockByNumber` of a block above head-n answers null, as a lagging node would; a trace of
such a block answers `[]` (`trace_block`, as Anvil does) or an error (`debug_traceBlockBy*`). Other
methods (eth_getLogs included) are forwarded unchanged. `behind(n, state=True)` lags the state
reads too: `eth_getBalance`, `eth_call` and `eth_getTransactionCount` at "latest" are answered as of
block head-n (a short or zero balance), and at a block number above head-n with null.
`behind(n, full=True)` lags in everything a lagging node answers: the state reads as with `state`,
and also eth_getLogs (logs of hidden blocks left out), receipts and eth_getTransactionByHash of
transactions in hidden blocks (null).

`cap_logs(max_blocks=None, max_results=None, http413=False)` (persistent until `cap_logs()` or
`clear()`) refuses an eth_getLogs spanning more than `max_blocks` blocks (JSON-RPC -32000 "exceed
maximum block range: N", as BSC) or answering more than `max_results` logs (-32005 "query returned
more than N results", as Infura; the code rate limits also use); with `http413` the whole request
answers HTTP 413 instead. Other calls of the batch are answered as usual.

`without(*methods)` (persistent until `without()` or `clear()`) answers a request whose every call
is to one of `methods` with JSON-RPC error -32601 "Method not found": a node without that namespace.

Counters: `requests` (HTTP requests seen, faulted or not), `forwarded` (requests that reached the
node), and `seen`, one `Seen(methods, fault)` per request in arrival order; `reset_counters()`
zeroes them without touching the rules.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

MODES = frozenset({"http500", "http429", "timeout", "garbage", "wrong_shape", "null_result", "missing_ids",
                   "rpc_error", "rate_limit_code", "drop", "shuffled", "null_calls"})
#: Modes whose request still reaches the node (the fault is applied to its answer).
FORWARDED_MODES = frozenset({"null_result", "missing_ids", "shuffled", "null_calls"})
#: Lookups of one transaction a `full` lag answers null when its block is hidden.
TX_LOOKUPS = ("eth_getTransactionReceipt", "eth_getTransactionByHash")

#: State reads a lagging node (`behind(n, state=True)` or `full=True`) answers as of its own head.
STATE_READS = frozenset({"eth_getBalance", "eth_call", "eth_getTransactionCount"})

#: JSON-RPC error codes answered by "rpc_error" and "rate_limit_code".
RPC_ERROR_CODE = -32000
NO_SUCH_METHOD_CODE = -32601
#: Per-block traces a lagging node cannot answer for blocks it does not have.
TRACE_READS = ("debug_traceBlockByNumber", "debug_traceBlockByHash", "trace_block")
RATE_LIMIT_CODE = -32005


@dataclass(frozen=True)
class Seen:
    """One HTTP request the proxy received: the JSON-RPC methods in it and the fault it got (or None)."""

    methods: tuple[str, ...]
    fault: str | None


@dataclass
class _Rule:
    mode: str
    remaining: int
    method: str | None

    def applies(self, methods: tuple[str, ...]) -> bool:
        return self.remaining > 0 and (self.method is None or self.method in methods)


class FaultProxy:
    """A JSON-RPC proxy in front of `upstream` whose next requests can be made to fail on purpose."""

    def __init__(self, upstream: str, *, hold_s: float = 2.0, upstream_timeout_s: float = 30.0):
        self.upstream = upstream
        self.hold_s = hold_s
        self._upstream_timeout_s = upstream_timeout_s
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._behind = 0
        self._behind_state = False
        self._behind_full = False
        self._without: frozenset[str] = frozenset()
        self._cap_blocks: int | None = None
        self._cap_results: int | None = None
        self._cap_413 = False
        self._chaos_rate = 0.0
        self._chaos_modes: tuple[str, ...] = ()
        self._chaos_rng = random.Random(0)
        self._seen: list[Seen] = []
        self._forwarded = 0
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._http: httpx.Client | None = None
        self._connections: set[socket.socket] = set()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> "FaultProxy":
        if self._server is not None:
            raise RuntimeError("proxy already started")
        self._stopping.clear()
        self._http = httpx.Client(timeout=self._upstream_timeout_s)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fault-proxy:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; held ("timeout") requests are released at once."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:  # idle keep-alive connections would otherwise outlive the proxy
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("proxy not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- control --------------------------------------------------------------------------
    def fail_next(self, n: int, mode: str, *, method: str | None = None) -> "FaultProxy":
        """The next `n` requests (only those calling `method`, when given) answer with fault `mode`."""
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}; one of {', '.join(sorted(MODES))}")
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            self._rules.append(_Rule(mode, n, method))
        return self

    def behind(self, n: int, *, state: bool = False, full: bool = False) -> "FaultProxy":
        """Look `n` blocks behind the real node (0 turns it off); `state`: balances and calls too;
        `full`: state, logs and receipts too."""
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._lock:
            self._behind, self._behind_state, self._behind_full = n, (state or full) and n > 0, full
        return self

    def cap_logs(self, max_blocks: int | None = None, max_results: int | None = None, *,
                 http413: bool = False) -> "FaultProxy":
        """Refuse eth_getLogs wider than `max_blocks` or with more than `max_results` logs (none: no cap)."""
        with self._lock:
            self._cap_blocks, self._cap_results, self._cap_413 = max_blocks, max_results, http413
        return self

    def without(self, *methods: str) -> "FaultProxy":
        """Answer calls to `methods` with "Method not found" from now on (none: every method again)."""
        with self._lock:
            self._without = frozenset(methods)
        return self

    def chaos(self, rate: float, modes: tuple[str, ...] | list[str] = (), *, seed: int = 0) -> "FaultProxy":
        """From now on a share `rate` of requests (those no queued rule takes) fail with a mode from `modes`."""
        unknown = [m for m in modes if m not in MODES]
        if unknown or not 0 <= rate <= 1 or (rate and not modes):
            raise ValueError(f"chaos needs 0 <= rate <= 1 and modes from {', '.join(sorted(MODES))}; got {rate}, {modes}")
        with self._lock:
            self._chaos_rate, self._chaos_modes, self._chaos_rng = rate, tuple(modes), random.Random(seed)
        return self

    def clear(self) -> "FaultProxy":
        """Drop every pending fault, the `behind` lag, `without` and `chaos`; counters are kept."""
        with self._lock:
            self._rules.clear()
            self._without = frozenset()
            self._cap_blocks = self._cap_results = None
            self._cap_413 = False
            self._behind, self._behind_state, self._behind_full = 0, False, False
            self._chaos_rate, self._chaos_modes = 0.0, ()
        return self

    @property
    def pending_faults(self) -> int:
        """Faults still queued (requests that will fail if they match)."""
        with self._lock:
            return sum(rule.remaining for rule in self._rules)

    # -- counters -------------------------------------------------------------------------
    @property
    def requests(self) -> int:
        """HTTP requests received, faulted or forwarded."""
        with self._lock:
            return len(self._seen)

    @property
    def forwarded(self) -> int:
        """HTTP requests that reached the upstream node."""
        with self._lock:
            return self._forwarded

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def reset_counters(self) -> None:
        with self._lock:
            self._seen.clear()
            self._forwarded = 0

    # -- request handling (called from server threads) --------------------------------------
    def _admit(self, methods: tuple[str, ...]) -> tuple[str | None, str | None, int, bool]:
        """Record the request and pick its fault (consuming one from the first matching rule, else by
        chance under `chaos`): → (mode, the rule's method, lag, full lag)."""
        with self._lock:
            fault = method = None
            for rule in self._rules:
                if rule.applies(methods):
                    rule.remaining -= 1
                    fault, method = rule.mode, rule.method
                    break
            self._rules = [rule for rule in self._rules if rule.remaining > 0]
            if fault is None and self._chaos_rate and self._chaos_rng.random() < self._chaos_rate:
                fault = self._chaos_rng.choice(self._chaos_modes)
            self._seen.append(Seen(methods, fault))
            if fault is None or fault in FORWARDED_MODES:
                self._forwarded += 1
            return fault, method, self._behind, self._behind_full

    def _upstream(self, body: bytes) -> httpx.Response:
        assert self._http is not None
        return self._http.post(self.upstream, content=body, headers={"Content-Type": "application/json"})

    def _upstream_head(self) -> int:
        resp = self._upstream(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber",
                                          "params": []}).encode())
        return int(resp.json()["result"], 16)

    def _upstream_number_of(self, block_hash: str) -> str | None:
        """The number (hex) of the block with `block_hash` on the real node, or None if it has none."""
        resp = self._upstream(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "eth_getBlockByHash",
                                          "params": [block_hash, False]}).encode())
        block = resp.json().get("result")
        return block.get("number") if isinstance(block, dict) else None

    def _forward(self, body: bytes, payload: Any, lag: int, full: bool = False) -> tuple[int, bytes]:
        """Forward to the node; when lagging, rewrite the calls and answers that reveal the head."""
        if not lag:
            resp = self._upstream(body)
            return resp.status_code, resp.content
        calls = payload if isinstance(payload, list) else [payload]
        shown = max(0, self._upstream_head() - lag)
        hidden: set[Any] = set()  # ids whose block the lagging node "does not have yet"
        rewritten = []
        for call in calls:
            if isinstance(call, dict) and call.get("method") == "eth_getBlockByNumber" and call.get("params"):
                ref = call["params"][0]
                if ref in ("latest", "pending"):
                    call = {**call, "params": [hex(shown), *call["params"][1:]]}
                elif isinstance(ref, str) and ref.startswith("0x") and int(ref, 16) > shown:
                    hidden.add(call.get("id"))
            elif isinstance(call, dict) and call.get("method") in TRACE_READS and call.get("params"):
                ref = call["params"][0]
                if call["method"] == "debug_traceBlockByHash" and isinstance(ref, str):
                    ref = self._upstream_number_of(ref)
                if isinstance(ref, str) and ref.startswith("0x") and int(ref, 16) > shown:
                    hidden.add(call.get("id"))
            elif isinstance(call, dict) and call.get("method") in STATE_READS and self._behind_state \
                    and call.get("params"):
                ref = call["params"][-1]
                if ref in ("latest", "pending"):
                    call = {**call, "params": [*call["params"][:-1], hex(shown)]}
                elif isinstance(ref, str) and ref.startswith("0x") and int(ref, 16) > shown:
                    hidden.add(call.get("id"))
            rewritten.append(call)
        resp = self._upstream(json.dumps(rewritten if isinstance(payload, list) else rewritten[0]).encode())
        try:
            answer = resp.json()
        except ValueError:
            return resp.status_code, resp.content
        methods = {c.get("id"): c.get("method") for c in calls if isinstance(c, dict)}
        for item in answer if isinstance(answer, list) else [answer]:
            if not isinstance(item, dict) or "result" not in item:
                continue
            method, result = methods.get(item.get("id")), item["result"]
            if method == "eth_blockNumber":
                item["result"] = hex(shown)
            elif item.get("id") in hidden and method == "trace_block":
                item["result"] = []
            elif item.get("id") in hidden and method in ("debug_traceBlockByNumber", "debug_traceBlockByHash"):
                del item["result"]
                item["error"] = {"code": RPC_ERROR_CODE, "message": "block not found"}
            elif item.get("id") in hidden:
                item["result"] = None
            elif full and method == "eth_getLogs" and isinstance(result, list):
                item["result"] = [e for e in result if isinstance(e, dict) and _block_of(e) <= shown]
            elif full and method in TX_LOOKUPS and isinstance(result, dict) and _block_of(result) > shown:
                item["result"] = None
        return resp.status_code, json.dumps(answer).encode()


def _capped_logs(content: bytes, payload: Any, max_blocks: int | None, max_results: int | None,
                 http413: bool) -> tuple[bytes, bool]:
    """The answer with each eth_getLogs over the caps replaced by the refusal a provider gives; and
    whether any was refused."""
    calls = {c.get("id"): c for c in (payload if isinstance(payload, list) else [payload]) if isinstance(c, dict)}
    try:
        answer = json.loads(content)
    except ValueError:
        return content, False
    refused = False
    for item in answer if isinstance(answer, list) else [answer]:
        call = calls.get(item.get("id")) if isinstance(item, dict) else None
        if call is None or call.get("method") != "eth_getLogs" or not isinstance(item.get("result"), list):
            continue
        flt = (call.get("params") or [{}])[0]
        try:
            span = int(flt["toBlock"], 16) - int(flt["fromBlock"], 16) + 1
        except (KeyError, TypeError, ValueError):
            span = None
        error = None
        if max_blocks is not None and span is not None and span > max_blocks:
            error = {"code": RPC_ERROR_CODE, "message": f"exceed maximum block range: {max_blocks}"}
        elif max_results is not None and len(item["result"]) > max_results:
            error = {"code": RATE_LIMIT_CODE, "message": f"query returned more than {max_results} results"}
        if error is not None:
            refused = True
            del item["result"]
            item["error"] = error
    return json.dumps(answer).encode(), refused


def _block_of(item: dict) -> int:
    """The block number of a log, receipt or transaction answer (-1 when pending or unreadable)."""
    number = item.get("blockNumber")
    try:
        return int(number, 16) if isinstance(number, str) else -1
    except ValueError:
        return -1


def _error_answer(payload: Any, code: int, message: str) -> Any:
    calls = payload if isinstance(payload, list) else [payload]
    answers = [{"jsonrpc": "2.0", "id": c.get("id") if isinstance(c, dict) else None,
                "error": {"code": code, "message": message}} for c in calls]
    return answers if isinstance(payload, list) else answers[0]


def _rewrite(content: bytes, fault: str, payload: Any = None, method: str | None = None) -> bytes:
    """Apply a post-forwarding fault ("null_result", "null_calls", "missing_ids", "shuffled") to the answer."""
    answer = json.loads(content)
    if fault == "shuffled":
        return json.dumps(answer[::-1] if isinstance(answer, list) else answer).encode()
    calls = payload if isinstance(payload, list) else [payload]
    nulled = {c.get("id") for c in calls if isinstance(c, dict) and (method is None or c.get("method") == method)}
    for item in answer if isinstance(answer, list) else [answer]:
        if not isinstance(item, dict):
            continue
        if fault == "null_result" and "result" in item:
            item["result"] = None
        elif fault == "null_calls" and "result" in item and item.get("id") in nulled:
            item["result"] = None
        elif fault == "missing_ids":
            item.pop("id", None)
    return json.dumps(answer).encode()


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real node
        disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls
        server_version = "ctrip-fault-proxy"

        def setup(self) -> None:
            super().setup()
            with proxy._lock:
                proxy._connections.add(self.connection)

        def finish(self) -> None:
            with proxy._lock:
                proxy._connections.discard(self.connection)
            try:
                super().finish()
            except OSError:
                pass

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def _reply(self, status: int, body: bytes, content_type: str = "application/json",
                   headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            calls = payload if isinstance(payload, list) else [payload]
            methods = tuple(str(c.get("method")) for c in calls if isinstance(c, dict))
            fault, fault_method, lag, full = proxy._admit(methods)
            if methods and all(m in proxy._without for m in methods):
                answer = _error_answer(payload, NO_SUCH_METHOD_CODE, "Method not found")
                return self._reply(200, json.dumps(answer).encode())

            if fault in ("drop", "timeout"):
                if fault == "timeout":
                    proxy._stopping.wait(proxy.hold_s)
                self.close_connection = True  # no answer at all: the client sees the socket close
                return
            if fault == "http500":
                return self._reply(500, b"injected fault: internal server error", "text/plain")
            if fault == "http429":
                return self._reply(429, b"injected fault: too many requests", "text/plain", {"Retry-After": "1"})
            if fault == "garbage":
                return self._reply(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            if fault == "wrong_shape":
                return self._reply(200, json.dumps({"jsonrpc": "2.0", "result": "not a batch"}).encode())
            if fault == "rpc_error":
                answer = _error_answer(payload, RPC_ERROR_CODE, "injected fault: server error")
                return self._reply(200, json.dumps(answer).encode())
            if fault == "rate_limit_code":
                answer = _error_answer(payload, RATE_LIMIT_CODE, "injected fault: request limit exceeded")
                return self._reply(200, json.dumps(answer).encode())

            try:
                status, content = proxy._forward(body, payload, lag, full)
            except httpx.HTTPError as exc:
                return self._reply(502, f"upstream failed: {exc}".encode(), "text/plain")
            if fault in FORWARDED_MODES and status == 200:
                content = _rewrite(content, fault, payload, fault_method)
            if status == 200 and (proxy._cap_blocks is not None or proxy._cap_results is not None):
                content, refused = _capped_logs(content, payload, proxy._cap_blocks, proxy._cap_results,
                                                proxy._cap_413)
                if refused and proxy._cap_413:
                    return self._reply(413, b"injected fault: response too large", "text/plain")
            self._reply(status, content)

    return Handler
