"""`EVMChain`: the one base class every chain adapter extends.

All JSON-RPC behaviour (blocks, logs, receipts, balances, nonces, fees, broadcasting) lives here.
A chain plugin subclasses it and states only what differs: its name, the chain ids it knows,
its fee model and its default confirmation depth (see plugins/ctrip_ethereum for the pattern).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from ctrip_core.chains.l1_fee import L1_FEE_MARGIN, MAX_L1_FEE_WEI, get_l1_fee_calldata, parse_l1_fee, probe
from ctrip_core.chains.log_range import LogRange
from ctrip_core.chains.rpc import (ChainIdMismatch, FaultHook, RangeRefused, RetryPolicy, RpcClient,  # noqa: F401
                                   RpcUnavailable)
from ctrip_core.chains.traces import TraceReader
from ctrip_core.chains.types import Block, FeeQuote, Log, MalformedAnswer, Receipt, quantity
from ctrip_core.config import ChainConfig
from ctrip_core.config.node_url import shown


def _parse_logs(raw: Any) -> list[Log]:
    """An eth_getLogs answer, checked inside the retry loop (a wrong shape is retried elsewhere)."""
    if not isinstance(raw, list):
        raise MalformedAnswer("eth_getLogs: expected a list")
    return [Log.parse(item) for item in raw]


class EVMChain:
    """A chain reached over JSON-RPC. Subclasses override the class attributes only."""

    #: Adapter name used in chains.yaml (`adapter:`); set by each plugin.
    name: ClassVar[str] = "evm"
    #: Chain ids this adapter accepts; empty means any.
    chain_ids: ClassVar[tuple[int, ...]] = ()
    #: "eip1559" (maxFeePerGas + tip) or "legacy" (gasPrice).
    fee_model: ClassVar[Literal["eip1559", "legacy"]] = "eip1559"
    #: Confirmation depth used when chains.yaml does not set `confirmations` ("finalized": the
    #: node's `finalized` block).
    default_confirmations: ClassVar[int | Literal["finalized"]] = 12
    #: Seconds between blocks used when chains.yaml does not set `block_time_s`; None: required there.
    default_block_time_s: ClassVar[float | None] = None
    #: Tip used when the node cannot suggest one (wei).
    fallback_priority_fee: ClassVar[int] = 1_000_000_000
    #: OP-stack chains: the oracle pricing the L1 data fee each transaction pays on top of its gas
    #: (`chains/l1_fee.py`; `GAS_PRICE_ORACLE` there); None where transactions pay gas only.
    l1_fee_oracle: ClassVar[str | None] = None
    #: The most one sweep transaction's L1 data fee is believed to cost (wei; `chains/l1_fee.py`).
    max_l1_fee_wei: ClassVar[int] = MAX_L1_FEE_WEI

    def __init__(self, config: ChainConfig, rpc: RpcClient | None = None, *, timeout_s: float | None = None,
                 retry: RetryPolicy = RetryPolicy(), on_fault: FaultHook | None = None):
        self.config = config
        timeout_s = config.rpc_timeout_s if timeout_s is None else timeout_s  # chains.yaml unless overridden
        self.rpc = rpc or RpcClient(config.rpc_urls, timeout_s=timeout_s, retry=retry, on_fault=on_fault,
                                    chain_id=config.chain_id, chain=config.name)
        #: Call traces (chains.yaml `traces:`), for internal transfers.
        self.traces = TraceReader(config.name, config.traces, self.rpc)
        #: How wide an eth_getLogs the nodes accept (shrinks on refusal, grows back).
        self.log_range = LogRange(config.name)

    # -- identity -------------------------------------------------------------------------
    @property
    def confirmations(self) -> int | Literal["finalized"]:
        """The configured confirmation rule, or this adapter's default."""
        return self.config.confirmations if self.config.confirmations is not None else self.default_confirmations

    async def chain_id(self) -> int:
        return quantity(await self.rpc.call("eth_chainId"), "eth_chainId")

    async def verify_chain_id(self) -> None:
        """Ask every `rpc_url` its chain id, once each (the client then never uses one of another chain).

        Raises `ChainIdMismatch` when every URL answers another id than configured, `RpcUnavailable`
        when none answers the right one and some did not answer at all: not known yet, checked again
        on their first use. One URL serving the chain is enough.
        """
        answers = await self.rpc.check_chain_ids()
        if self.config.chain_id in answers.values():
            return
        if None not in answers.values():
            raise ChainIdMismatch(self.config.name, self.config.chain_id, answers)
        silent = [shown(url) for url, actual in answers.items() if actual is None]
        raise RpcUnavailable("eth_chainId", len(silent), RuntimeError(f"no answer from {', '.join(silent)}"))

    # -- reading --------------------------------------------------------------------------
    async def head(self) -> int:
        # Parsed inside the retry loop: a null or non-hex head is a bad node, retried on the next URL.
        return await self.rpc.call("eth_blockNumber", parse=lambda method, _params, raw: quantity(raw, method))

    async def block_by_tag(self, tag: str) -> Block | None:
        """`latest`, `safe`, `finalized`, or a number; None when the node has no such block."""
        ref = hex(tag) if isinstance(tag, int) else tag
        raw = await self.rpc.call("eth_getBlockByNumber", ref, False)
        return None if raw is None else Block.parse(raw, full=False)

    async def get_blocks(self, numbers: Sequence[int], *, full: bool = True) -> list[Block]:
        """Blocks by number in one batched round trip; a missing block is a fault, not a gap."""
        def parse(_method: str, params: Sequence[Any], raw: Any) -> Block:
            # Inside the client's retry loop: a node lacking the block (lagging, or a bad answer)
            # is retried on the next URL, not reported at once.
            number = int(params[0], 16)
            if raw is None:
                raise MalformedAnswer(f"block {number} not available from the node")
            block = Block.parse(raw, full=full)
            if block.number != number:
                raise MalformedAnswer(f"asked block {number}, got {block.number}")
            return block

        return await self.rpc.batch([("eth_getBlockByNumber", [hex(n), full]) for n in numbers], parse=parse)

    async def with_traces(self, blocks: Sequence[Block]) -> list[Block]:
        """`blocks` (read with full transactions) with their `internal_calls`, one trace call per block,
        batched; unchanged (`internal_calls` None) when the chain has no traces (see chains/traces.py)."""
        calls = await self.traces.internal_calls(blocks)
        if calls is None:
            return list(blocks)
        return [dataclasses.replace(block, internal_calls=found) for block, found in zip(blocks, calls)]

    async def get_logs(self, from_block: int, to_block: int, addresses: Sequence[str],
                       topics: Sequence[Any]) -> list[Log]:
        """Logs of a range, asked in parts as narrow as the nodes require (see `chains/log_range.py`)."""
        async def part(lo: int, hi: int) -> list[Log]:
            return await self.rpc.call("eth_getLogs", self._log_filter(lo, hi, addresses, topics),
                                       parse=lambda _method, _params, raw: _parse_logs(raw))

        logs: list[Log] = []
        for _hi, found in await self._in_parts(from_block, to_block, part):
            logs += found
        return logs

    async def get_logs_anchored(self, from_block: int, to_block: int, addresses: Sequence[str],
                                topics: Sequence[Any]) -> tuple[list[Log], dict[int, str]]:
        """Logs of a range, and the hash of the last block of each part it was asked in ({number: hash}).

        Each part's logs and its last block's hash come from the one node that answers that batch.
        A lagging node answers a range reaching past its head with the logs it has: silently short.
        Asked in the same batch, its missing last block gives it away and the batch is retried on
        the next URL. The caller compares each hash with the block it scanned (another fork's logs).
        A node that refuses the range (too wide, too many results) is asked in narrower parts.
        """
        async def part(lo: int, hi: int) -> tuple[list[Log], str]:
            def parse(method: str, _params: Sequence[Any], raw: Any) -> Any:
                if method == "eth_getLogs":
                    return _parse_logs(raw)
                if raw is None:
                    raise MalformedAnswer(f"eth_getLogs: node lacks block {hi}, its logs may be partial")
                return Block.parse(raw, full=False).hash

            calls = [("eth_getLogs", [self._log_filter(lo, hi, addresses, topics)]),
                     ("eth_getBlockByNumber", [hex(hi), False])]
            found, hi_hash = await self.rpc.batch(calls, parse=parse)
            return found, hi_hash

        logs: list[Log] = []
        anchors: dict[int, str] = {}
        for hi, (found, hi_hash) in await self._in_parts(from_block, to_block, part):
            logs += found
            anchors[hi] = hi_hash
        return logs, anchors

    async def _in_parts(self, from_block: int, to_block: int, part):
        """[(last block, part(lo, hi))] over parts covering from_block..to_block exactly, in order,
        each as wide as `log_range` allows; a refused part is halved and asked again."""
        answers = []
        lo = from_block
        while lo <= to_block:
            span = self.log_range.span(to_block - lo + 1)
            hi = lo + span - 1
            try:
                answer = await part(lo, hi)
            except RangeRefused as exc:
                self.log_range.refused(span, exc)
                continue
            self.log_range.accepted(span)
            answers.append((hi, answer))
            lo = hi + 1
        return answers

    @staticmethod
    def _log_filter(from_block: int, to_block: int, addresses: Sequence[str], topics: Sequence[Any]) -> dict:
        return {"fromBlock": hex(from_block), "toBlock": hex(to_block), "address": list(addresses),
                "topics": list(topics)}

    async def get_receipts(self, tx_hashes: Sequence[str], *, must_exist: bool = False) -> list[Receipt | None]:
        """Receipts in one batch; None for a transaction the node does not know (dropped, reorged).

        With `must_exist` (transactions of blocks just read) a missing receipt means a lagging or
        broken node, retried on the next URL like a malformed one.
        """
        def parse(_method: str, params: Sequence[Any], raw: Any) -> Receipt | None:
            if raw is None and must_exist:
                raise MalformedAnswer(f"no receipt for mined transaction {params[0]}")
            return None if raw is None else Receipt.parse(raw)

        return await self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in tx_hashes], parse=parse)

    async def get_balance(self, address: str, block: str | int = "latest") -> int:
        ref = hex(block) if isinstance(block, int) else block
        return quantity(await self.rpc.call("eth_getBalance", address, ref), "eth_getBalance")

    async def get_transaction_count(self, address: str, block: str = "pending") -> int:
        return quantity(await self.rpc.call("eth_getTransactionCount", address, block), "eth_getTransactionCount")

    async def eth_call(self, to: str, data: str, block: str = "latest") -> str:
        result = await self.rpc.call("eth_call", {"to": to, "data": data}, block)
        if not isinstance(result, str):
            raise MalformedAnswer("eth_call: expected hex data")
        return result

    async def estimate_gas(self, tx: dict[str, Any]) -> int:
        return quantity(await self.rpc.call("eth_estimateGas", tx), "eth_estimateGas")

    # -- fees and sending -----------------------------------------------------------------
    async def fee_quote(self) -> FeeQuote:
        """Fees for a transaction sent now, by this adapter's fee model (and its L1 data fee, if any)."""
        l1_fee = 0 if self.l1_fee_oracle is None else await self.l1_fee()
        if self.fee_model == "legacy":
            return FeeQuote("legacy", gas_price=quantity(await self.rpc.call("eth_gasPrice"), "eth_gasPrice"),
                            l1_fee=l1_fee)
        latest = await self.rpc.call("eth_getBlockByNumber", "latest", False)
        base_fee = quantity((latest or {}).get("baseFeePerGas"), "baseFeePerGas")
        tip = await self._priority_fee()
        return FeeQuote("eip1559", max_fee_per_gas=2 * base_fee + tip, max_priority_fee_per_gas=tip, l1_fee=l1_fee)

    async def l1_fee(self) -> int:
        """What to reserve for the L1 data fee of one sweep transaction (see `chains/l1_fee.py`)."""
        calldata = get_l1_fee_calldata(probe(self.config.chain_id))
        price = await self.rpc.call("eth_call", {"to": self.l1_fee_oracle, "data": calldata}, "latest",
                                    parse=lambda _method, _params, raw: parse_l1_fee(raw, self.max_l1_fee_wei))
        return L1_FEE_MARGIN * price

    async def _priority_fee(self) -> int:
        try:
            return quantity(await self.rpc.call("eth_maxPriorityFeePerGas"), "eth_maxPriorityFeePerGas")
        except Exception:  # noqa: BLE001 - not every node implements it; the fallback is documented
            return self.fallback_priority_fee

    async def send_raw_transaction(self, raw_tx: str) -> str:
        result = await self.rpc.call("eth_sendRawTransaction", raw_tx)
        if not isinstance(result, str):
            raise MalformedAnswer("eth_sendRawTransaction: expected a tx hash")
        return result

    async def close(self) -> None:
        await self.rpc.close()
