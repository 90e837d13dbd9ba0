"""Explaining a shortfall: transfers into deposit addresses that the chain holds and the ledger lacks.

Token shortfalls are looked for in the configured tokens' `Transfer` logs whose indexed `to` is one
of the addresses (eth_getLogs by topic, every address of a page in one filter), over each
address's life: from the first block at or after its payment's creation less `reconcile.lookback_s`
up to the audit block, in ranges of `reconcile.log_range_blocks`. The logs go through the same
matchers the scanner uses, so a found transfer has exactly the (chain, tx_hash, log_index) the
scanner would have given it, and is recorded once whoever finds it first. Each log's block is
read back and must have the log's block hash (another fork's log explains nothing).

Native shortfalls have no index to ask: the blocks of the addresses' life (from the same start, but
at most `reconcile.native_search_blocks` back from the audit block) are read again with full
transactions, and with call traces where the chain has them, through the scanner's matchers (a
top-level value transfer counts only with a successful receipt; an internal one from its trace).
A shortfall seen only once in a long while (a missed range, contract-sent coin before traces were
on), so the cost is paid per shortfall, never per audited address. An older one stays unexplained.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from ctrip_core.chains import EVMChain
from ctrip_core.chains.types import Block, MalformedAnswer
from ctrip_core.matching import ObservedTransfer
from ctrip_core.matching.erc20 import TRANSFER_TOPIC
from ctrip_core.runtime import Runtime
from ctrip_core.services.watching.scanning import read_blocks, successful

#: Blocks asked per round of the search for the first block of an address's life.
SEARCH_FANOUT = 16
#: Addresses per eth_getLogs topic filter (providers cap OR-lists of topics).
TOPIC_ADDRESSES = 100
#: Blocks read per batched round of the native search.
NATIVE_BLOCKS_PER_ROUND = 100

Key = tuple[str, str | None]


async def first_block_at(chain: EVMChain, when: datetime, last: int) -> int:
    """The first block ≤ `last` whose timestamp is ≥ `when` (`last` if none): a k-ary search over
    block headers, SEARCH_FANOUT of them per batched round, so about log16(last) round trips."""
    target = int(when.timestamp())
    lo, hi = -1, last  # invariant: block lo is before `when` (or none), block hi is at or after it (or last)
    while hi - lo > 1:
        step = max(1, (hi - lo) // (SEARCH_FANOUT + 1))
        probes = list(range(lo + step, hi, step))[:SEARCH_FANOUT]
        for block in await chain.get_blocks(probes, full=False):
            if block.timestamp < target:
                lo = block.number
            else:
                hi = block.number
                break
        else:
            if not probes:
                break
    return hi


def _topic(address: str) -> str:
    return "0x" + address[2:].lower().rjust(64, "0")


async def _headers(chain: EVMChain, numbers: list[int]) -> dict[int, Block]:
    return {b.number: b for b in await chain.get_blocks(numbers, full=False)} if numbers else {}


async def missed_token_transfers(runtime: Runtime, chain: EVMChain, shortfalls: Mapping[Key, datetime], block: int
                                 ) -> tuple[list[ObservedTransfer], dict[int, datetime]]:
    """Token transfers into the (address, token) pairs of `shortfalls` (each with its payment's
    creation time), mined up to `block`, as the scanner's matchers see them; and their blocks' times."""
    pairs = {(a, t) for a, t in shortfalls if t is not None}
    if not pairs:
        return [], {}
    settings = runtime.settings.reconcile
    since = min(shortfalls[p] for p in pairs) - timedelta(seconds=settings.lookback_s)
    start = await first_block_at(chain, since, block)
    addresses = sorted({a for a, _ in pairs})
    tokens = sorted({t for _, t in pairs})
    logs = []
    for lo in range(start, block + 1, settings.log_range_blocks):
        hi = min(block, lo + settings.log_range_blocks - 1)
        for i in range(0, len(addresses), TOPIC_ADDRESSES):
            topics = [TRANSFER_TOPIC, None, [_topic(a) for a in addresses[i:i + TOPIC_ADDRESSES]]]
            logs += await chain.get_logs(lo, hi, tokens, topics)
    found = [t for m in runtime.matchers for t in m.match(chain.config, [], logs)
             if (t.to_address, t.token_address) in pairs]
    headers = await _headers(chain, sorted({t.block_number for t in found}))
    for t in found:
        if headers[t.block_number].hash != t.block_hash:
            raise MalformedAnswer(f"log {t.tx_hash}:{t.log_index} is from another fork than block {t.block_number}")
    return found, {n: datetime.fromtimestamp(b.timestamp, UTC) for n, b in headers.items()}


async def missed_native_transfers(runtime: Runtime, chain: EVMChain, shortfalls: Mapping[Key, datetime], block: int
                                  ) -> tuple[list[ObservedTransfer], dict[int, datetime]]:
    """Native transfers (top-level and, where traced, internal) into the addresses of `shortfalls`
    whose asset is the coin, mined up to `block`, as the scanner's matchers see them; and their blocks' times."""
    addresses = {a for a, t in shortfalls if t is None}
    if not addresses:
        return [], {}
    settings = runtime.settings.reconcile
    since = min(shortfalls[(a, None)] for a in addresses) - timedelta(seconds=settings.lookback_s)
    start = max(await first_block_at(chain, since, block), block - settings.native_search_blocks + 1, 0)
    found: list[ObservedTransfer] = []
    times: dict[int, datetime] = {}
    for lo in range(start, block + 1, NATIVE_BLOCKS_PER_ROUND):
        blocks = await read_blocks(runtime, chain, list(range(lo, min(block, lo + NATIVE_BLOCKS_PER_ROUND - 1) + 1)))
        hits = [t for m in runtime.matchers for t in m.match(chain.config, blocks, [])
                if t.token_address is None and t.to_address in addresses]
        found += hits
        times.update({b.number: datetime.fromtimestamp(b.timestamp, UTC) for b in blocks
                      if any(t.block_number == b.number for t in hits)})
    return await successful(chain, found), times
