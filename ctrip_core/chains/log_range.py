"""How many blocks one eth_getLogs may span on a chain's nodes: shrunk on refusal, grown back on success.

Providers cap eth_getLogs by blocks (BSC: 5,000; free tiers: 10) or by results (Infura: 10,000) and
say so with an error (`rpc.RangeRefused`). A refused range is halved and asked again in parts, each
part anchored on its own last block (see `EVMChain.get_logs_anchored`), down to one block; a node
that refuses even one block is a fault like any other (retried, the step fails, no cursor moves).
After `GROW_AFTER` parts accepted at the cap in a row the cap doubles, so a cap that was a busy
moment's (many results) or a URL's that is no longer used does not stay.

Invariant: the parts of a range cover it exactly, in order, with no gap and no overlap; a refusal
never loses a block's logs, it only costs requests.
"""

from __future__ import annotations

import logging

from ctrip_core.chains.rpc import RangeRefused, RpcTransportError

log = logging.getLogger("ctrip.rpc")

#: Parts accepted at the cap, in a row, before the cap doubles.
GROW_AFTER = 16


class LogRange:
    """The widest eth_getLogs span believed to be accepted: None while no node has refused one."""

    def __init__(self, chain: str):
        self.chain = chain
        self.cap: int | None = None
        self._accepted_at_cap = 0

    def span(self, wanted: int) -> int:
        """Blocks to ask for next, out of the `wanted` still to read."""
        return wanted if self.cap is None else min(wanted, self.cap)

    def refused(self, span: int, exc: RangeRefused) -> None:
        """A node refused `span` blocks: halve (logged once per change). One block refused is a fault."""
        if span <= 1:
            raise RpcTransportError(f"chain {self.chain}: eth_getLogs of one block refused: {exc.message}")
        cap = span // 2
        if self.cap is None or cap < self.cap:
            log.warning("chain %s: eth_getLogs of %d blocks refused (%s); asking at most %d blocks",
                        self.chain, span, exc.message, cap)
            self.cap = cap
        self._accepted_at_cap = 0

    def accepted(self, span: int) -> None:
        """`span` blocks were answered; after `GROW_AFTER` at the cap in a row, the cap doubles."""
        if self.cap is None or span < self.cap:
            return
        self._accepted_at_cap += 1
        if self._accepted_at_cap >= GROW_AFTER:
            self.cap *= 2
            self._accepted_at_cap = 0
            log.info("chain %s: eth_getLogs cap raised to %d blocks", self.chain, self.cap)
