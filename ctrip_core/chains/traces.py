"""Call traces: native coin moved by internal calls, read from the node's tracer (`traces:` in chains.yaml).

Two answers are read, both parsed once, inside the RPC client's retry loop, against the block they
trace (a malformed answer, or one of another fork or a node lacking the block, is `MalformedAnswer`;
it, and an error answer, are retried on the next URL):

- `debug`: `debug_traceBlockByHash(hash, {"tracer": "callTracer"})`, one nested call tree per transaction;
- `trace`: `trace_block(n)`, Parity-style flat traces with a `traceAddress` each.

Both become the same `InternalCall`s: a CALL with value > 0 (or a SELFDESTRUCT's balance) that did
not revert and whose every parent did not revert, below the top-level frame (the transaction's own
value, already counted by the `native` matcher). DELEGATECALL, CALLCODE and STATICCALL move no coin
to their target; a CREATE's value goes to a new contract, never to a deposit address.

`position` is the call's ordinal among the value-moving calls of its transaction, in a pre-order
walk of the call tree: only the frames every client must report, because they change balances
(a successful CALL or SELFDESTRUCT below the top level, moving value > 0, to an address that is not
a precompile). Clients differ in the other frames they show (geth lists precompile calls and calls
that failed for depth or balance, Nethermind's trace_block leaves precompiles out), so counting
every frame would give one payment another key on another node or in the other mode, and the
auditor would credit it twice. A transaction traced again (in another block after a reorg, by
another node, in the other mode) gives each value-moving call the same position. The `internal`
matcher records a call as log_index `-2 - position` (see `internal_log_index`).

`debug` traces a block by its hash (`debug_traceBlockByHash`), never by number: a node on another
fork cannot answer for our block with its own block of the same height.

`traces: auto` probes each RPC URL once, with a single request at the head block (`debug` first, then
`trace`), and uses the first mode every URL that answered supports; none → off, with one warning
line. A URL that cannot be reached, or answers another error than "no such method" (or a malformed
answer), is not judged: the mode is chosen from the URLs that were; when none could be judged, the
call fails like any RPC fault and the next one probes again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Literal

from ctrip_core.chains.rpc import RpcClient, RpcResponseError, RpcTransportError
from ctrip_core.chains.types import Block, InternalCall, MalformedAnswer, address, hash32, quantity
from ctrip_core.config.node_url import shown

log = logging.getLogger(__name__)

TraceMode = Literal["debug", "trace"]
#: The modes `auto` tries, in this order.
MODES: tuple[TraceMode, ...] = ("debug", "trace")
CALL_TRACER = {"tracer": "callTracer"}
#: A JSON-RPC error that says the node has no such method (codes and words nodes and providers use).
_NO_SUCH_METHOD_CODES = frozenset({-32601, -32604})
_NO_SUCH_METHOD = re.compile(r"not (found|supported|available|allowed|enabled|exist)|does not exist|unsupported"
                             r"|disabled|not whitelisted|unknown method", re.IGNORECASE)


def internal_log_index(position: int) -> int:
    """The transfer's log_index: below -1 (native) and token logs (>= 0), unique within the transaction."""
    return -2 - position


#: Addresses below this are precompiles on every EVM chain cTrip knows (Ethereum's 0x01-0x11, RIP-7212's
#: 0x100, Arbitrum's 0x64-0x6f and 0xff, OP's none here): never deposit addresses, and not every client
#: lists calls to them, so they are not counted in positions.
PRECOMPILE_LIMIT = 2**16

#: Blocks traced per HTTP request: tracing is slow (a mainnet block can take seconds), so a catch-up
#: step of 100 blocks is asked in several requests, each well within the RPC timeout.
TRACE_BLOCKS_PER_REQUEST = 5


def _counted(to_address: str, value: int) -> bool:
    """Whether a successful call below the top level moves value every client reports."""
    return value > 0 and int(to_address, 16) >= PRECOMPILE_LIMIT


# -- debug_traceBlockByHash with callTracer ----------------------------------------------------------

def _frame_value(frame: dict, what: str) -> int:
    value = frame.get("value")
    return 0 if value is None else quantity(value, what)


def _call_tree(tx_hash: str, top: Any) -> list[InternalCall]:
    """A callTracer tree → its value-moving calls; iterative (a call tree can be 1024 frames deep)."""
    found: list[InternalCall] = []
    stack: list[tuple[Any, bool, bool]] = [(top, False, True)]
    frames = 0
    while stack:
        frame, parent_failed, is_top = stack.pop()
        frames += 1
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            raise MalformedAnswer(f"callTracer {tx_hash}: frame {frames} is not a call frame")
        children = frame.get("calls", [])
        if not isinstance(children, list):
            raise MalformedAnswer(f"callTracer {tx_hash}: frame {frames} calls must be a list")
        failed = parent_failed or bool(frame.get("error"))
        kind = frame["type"].upper()
        if not is_top and not failed and kind in ("CALL", "SELFDESTRUCT"):
            value = _frame_value(frame, f"callTracer {tx_hash} value")
            to = address(frame.get("to"), "callTracer to")
            if _counted(to, value):
                found.append(InternalCall(tx_hash, len(found), address(frame.get("from"), "callTracer from"),
                                          to, value))
        stack.extend((child, failed, False) for child in reversed(children))
    return found


def parse_call_tracer(raw: Any, block: Block) -> tuple[InternalCall, ...]:
    """`debug_traceBlockByHash` (callTracer) of `block`: one entry per transaction, in block order."""
    if not isinstance(raw, list):
        raise MalformedAnswer(f"debug_traceBlockByHash {block.number}: expected a list")
    if len(raw) != len(block.transactions):
        raise MalformedAnswer(f"debug_traceBlockByHash {block.number}: {len(raw)} traces for "
                              f"{len(block.transactions)} transactions (another fork, or a node lacking the block)")
    calls: list[InternalCall] = []
    for tx, entry in zip(block.transactions, raw):
        if not isinstance(entry, dict) or "result" not in entry:
            raise MalformedAnswer(f"debug_traceBlockByHash {block.number}: an entry without a result")
        if entry.get("txHash") is not None and hash32(entry["txHash"], "trace txHash") != tx.hash:
            raise MalformedAnswer(f"debug_traceBlockByHash {block.number}: traces another transaction "
                                  f"than {tx.hash} (another fork)")
        calls += _call_tree(tx.hash, entry["result"])
    return tuple(calls)


# -- trace_block (Parity style) ----------------------------------------------------------------------

def _trace_address(entry: dict, what: str) -> tuple[int, ...]:
    path = entry.get("traceAddress")
    if not isinstance(path, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in path):
        raise MalformedAnswer(f"{what}: traceAddress must be a list of indexes")
    return tuple(path)


def _flat_value_call(entry: dict, what: str) -> tuple[str, str, int] | None:
    """(from, to, value) of a flat trace that moves coin to its target, else None."""
    action = entry.get("action")
    if not isinstance(action, dict):
        raise MalformedAnswer(f"{what}: action must be an object")
    kind = entry.get("type")
    if kind == "call" and action.get("callType") == "call":
        value = quantity(action.get("value"), f"{what} value")
        return (address(action.get("from"), f"{what} from"), address(action.get("to"), f"{what} to"),
                value) if value > 0 else None
    if kind == "suicide":
        value = quantity(action.get("balance"), f"{what} balance")
        return (address(action.get("address"), f"{what} address"),
                address(action.get("refundAddress"), f"{what} refundAddress"), value) if value > 0 else None
    return None


def _flat_tx(tx_hash: str, entries: list[dict]) -> list[InternalCall]:
    what = f"trace_block {tx_hash}"
    ordered = sorted(((_trace_address(e, what), e) for e in entries), key=lambda item: item[0])
    if not ordered or ordered[0][0] != ():
        raise MalformedAnswer(f"{what}: no top-level trace")
    if len({path for path, _ in ordered}) != len(ordered):
        raise MalformedAnswer(f"{what}: two traces at the same traceAddress")
    failed: set[tuple[int, ...]] = set()
    found: list[InternalCall] = []
    for path, entry in ordered:  # sorted traceAddresses are the pre-order walk
        if entry.get("error") or any(path[:k] in failed for k in range(len(path))):
            failed.add(path)
            continue
        moved = _flat_value_call(entry, what) if path else None
        if moved is not None and _counted(moved[1], moved[2]):
            found.append(InternalCall(tx_hash, len(found), *moved))
    return found


def parse_trace_block(raw: Any, block: Block) -> tuple[InternalCall, ...]:
    """`trace_block` of `block`: flat traces of its transactions (reward traces, without one, skipped)."""
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise MalformedAnswer(f"trace_block {block.number}: expected a list of traces")
    by_tx: dict[str, list[dict]] = {}
    for entry in raw:
        if entry.get("type") == "reward" or entry.get("transactionHash") is None:
            continue
        if hash32(entry.get("blockHash"), "trace blockHash") != block.hash:
            raise MalformedAnswer(f"trace_block {block.number}: a trace of another fork's block")
        by_tx.setdefault(hash32(entry["transactionHash"], "trace transactionHash"), []).append(entry)
    if list(by_tx) != [tx.hash for tx in block.transactions]:
        raise MalformedAnswer(f"trace_block {block.number}: traces {len(by_tx)} transactions, the block has "
                              f"{len(block.transactions)} (another fork, or a node lacking the block)")
    return tuple(call for tx_hash, entries in by_tx.items() for call in _flat_tx(tx_hash, entries))


#: mode → (method, params of a block given as (number, hash), parser).
_READERS = {
    "debug": ("debug_traceBlockByHash", lambda number, block_hash: [block_hash, CALL_TRACER], parse_call_tracer),
    "trace": ("trace_block", lambda number, block_hash: [hex(number)], parse_trace_block),
}


async def trace_blocks(rpc: RpcClient, mode: TraceMode, blocks: Sequence[Block]) -> list[tuple[InternalCall, ...]]:
    """The internal calls of each of `blocks` (read with full transactions): one call per block, batched."""
    method, params, parser = _READERS[mode]
    calls = [(method, params(b.number, b.hash)) for b in blocks]
    by_ref = {call[1][0]: b for call, b in zip(calls, blocks)}

    def parse(_method: str, call_params: Sequence[Any], raw: Any) -> tuple[InternalCall, ...]:
        return parser(raw, by_ref[call_params[0]])

    # an error answer (a block a lagging node lacks, a tracer timeout) is tried on the next URL too
    return await rpc.batch(calls, parse=parse, retry_errors=True, max_batch=TRACE_BLOCKS_PER_REQUEST)


# -- choosing the mode ---------------------------------------------------------------------------

def _no_such_method(exc: RpcResponseError) -> bool:
    return exc.code in _NO_SUCH_METHOD_CODES or bool(_NO_SUCH_METHOD.search(exc.message))


async def probe_url(rpc: RpcClient, url: str) -> frozenset[str] | None:
    """The trace modes the node at `url` answers (one request each, at the head), or None if not judged."""
    try:
        head = Block.parse(await rpc.call_at(url, "eth_getBlockByNumber", "latest", False), full=False)
    except (RpcResponseError, RpcTransportError):
        return None
    supported = set()
    for mode in MODES:
        method, params, _ = _READERS[mode]
        try:
            raw = await rpc.call_at(url, method, *params(head.number, head.hash))
        except RpcResponseError as exc:
            if _no_such_method(exc):
                continue
            return None
        except RpcTransportError:
            return None
        if not isinstance(raw, list):
            return None  # a null or odd answer (a flaky node) says nothing about the method
        supported.add(mode)
    return frozenset(supported)


class TraceReader:
    """A chain's call-trace capability: `setting` from chains.yaml, `auto` resolved by probing once."""

    def __init__(self, chain: str, setting: str, rpc: RpcClient):
        self.chain, self.setting, self.rpc = chain, setting, rpc
        self._mode: TraceMode | Literal["off"] | None = None if setting == "auto" else setting  # type: ignore[assignment]
        self._judged: dict[str, frozenset[str]] = {}

    @property
    def enabled(self) -> bool:
        """False when chains.yaml says off, or `auto` found no trace method; True before `auto` has probed."""
        return self._mode != "off"

    async def mode(self) -> TraceMode | Literal["off"]:
        if self._mode is None:
            self._mode = await self._resolve()
        return self._mode

    async def _resolve(self) -> TraceMode | Literal["off"]:
        for url in self.rpc.urls:
            if url not in self._judged and (found := await probe_url(self.rpc, url)) is not None:
                self._judged[url] = found
        if not self._judged:
            raise RpcTransportError(f"chain {self.chain}: traces: auto could not probe any RPC URL; retried later")
        mode = next((m for m in MODES if all(m in found for found in self._judged.values())), None)
        if mode is None:
            lacking = ", ".join(f"{shown(url)}: {'/'.join(sorted(found)) or 'none'}" for url, found in self._judged.items())
            log.warning("chain %s: traces: auto found no call-trace method every RPC URL answers (%s); "
                        "internal transfers are not scanned", self.chain, lacking)
            return "off"
        log.info("chain %s: traces: auto uses %s", self.chain, mode)
        return mode

    async def internal_calls(self, blocks: Sequence[Block]) -> list[tuple[InternalCall, ...]] | None:
        """Each block's internal calls, or None when this chain has no traces."""
        mode = await self.mode()
        if mode == "off" or not blocks:
            return None if mode == "off" else []
        return await trace_blocks(self.rpc, mode, blocks)
