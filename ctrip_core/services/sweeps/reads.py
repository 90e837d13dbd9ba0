"""Node reads a sweep pass shares: the fee quote, and balances at one fixed block from a node that has it."""

from __future__ import annotations

import time

from ctrip_core.chains import EVMChain
from ctrip_core.chains.erc20 import balance_of_calldata, parse_balance_of
from ctrip_core.chains.types import FeeQuote, MalformedAnswer, quantity


class PassReads:
    """Node reads one pass shares between its sweeps, instead of asking them per sweep: the fee quote
    (asked again once older than the chain's block time) and the balances of the addresses it is about
    to sweep (one batch up front, each used once; anything else is asked in a batch of its own).

    Balances are read at one fixed block, `block` (the ripe height: only confirmed funds are swept),
    and each batch also asks for that block itself: a node that answers null for it does not have it
    yet (a lagging one), so its balances (zero or short) are not taken; the batch is retried on the
    next node."""

    def __init__(self, chain: EVMChain, block: int):
        self.chain, self.block = chain, block
        self._quote: FeeQuote | None = None
        self._quoted_at = 0.0
        self._balances: dict[tuple[str, str | None], int] = {}

    async def fee(self) -> FeeQuote:
        if self._quote is None or time.monotonic() - self._quoted_at > self.chain.config.block_time_s:
            self._quote, self._quoted_at = await self.chain.fee_quote(), time.monotonic()
        return self._quote

    async def _read(self, pairs: list[tuple[str, str | None]]) -> dict[tuple[str, str | None], int]:
        """Balances at `self.block`, each batch (one node's answer) with the block check in it."""
        at = hex(self.block)

        def parse(method, _params, raw):
            if method == "eth_getBlockByNumber":
                if not isinstance(raw, dict):
                    raise MalformedAnswer(f"node has no block {self.block} yet: its balances there are not known")
                return None
            return quantity(raw, method) if method == "eth_getBalance" else parse_balance_of(raw)

        found: dict[tuple[str, str | None], int] = {}
        size = max(1, self.chain.rpc.max_batch - 1)
        for start in range(0, len(pairs), size):
            chunk = pairs[start:start + size]
            calls = [("eth_getBlockByNumber", [at, False])] + [
                ("eth_getBalance", [address, at]) if token is None else
                ("eth_call", [{"to": token, "data": balance_of_calldata(address)}, at]) for address, token in chunk]
            found.update(zip(chunk, (await self.chain.rpc.batch(calls, parse=parse))[1:]))
        return found

    async def prefetch(self, pairs: list[tuple[str, str | None]]) -> None:
        """Balances of (address, token) pairs, plus each address's native balance, in one batch of calls."""
        wanted = sorted(set(pairs) | {(address, None) for address, _ in pairs}, key=lambda p: (p[0], p[1] or ""))
        if wanted:
            self._balances.update(await self._read(wanted))

    async def balance(self, address: str, token: str | None = None) -> int:
        value = self._balances.pop((address, token), None)
        if value is not None:
            return value
        return (await self._read([(address, token)]))[(address, token)]
