"""Transfer matching: turning scanned blocks and logs into transfers to watched deposit addresses.

A `Matcher` says what it needs from a block range (full blocks, logs of some contracts) and,
given that data, yields every `ObservedTransfer` it holds, to any address. The caller keeps those
into its deposit addresses (the scanner with one indexed query per step over the candidates'
recipients, reconcile with the addresses it asks about), so a matcher never sees the watched set
and the scan's cost does not grow with the number of watched addresses.
The core's `native` and `erc20` matchers are plugins like any other (see `ctrip_register_matchers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ctrip_core.chains.types import Block, Log
from ctrip_core.config import ChainConfig
# `log_index` of a native transfer, so (chain, tx_hash, log_index) stays unique for it too; the
# storage key's rule, named here for matchers. Internal (call-trace) transfers are below it:
# -2 - the call's position (chains/traces.py).
from ctrip_core.db.models import NATIVE_LOG_INDEX  # noqa: F401


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Logs a matcher needs over the scanned range: emitted by `addresses`, with these `topics`."""

    addresses: tuple[str, ...]
    topics: tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class ObservedTransfer:
    """A transfer as read from the chain (amount in base units); the scanner keeps those into deposit addresses."""

    chain: str
    asset: str
    token_address: str | None
    tx_hash: str
    log_index: int
    block_number: int
    block_hash: str
    from_address: str
    to_address: str
    amount_base_units: int
    #: True when the transaction's receipt status must still be checked (native value transfers).
    needs_receipt_status: bool = False
    #: How it was found (`Transfer.source`): transaction, log, trace or reconcile.
    source: str = "transaction"


class Matcher:
    """Base of every matcher. Subclasses set `kind` and override what they use."""

    kind: str = ""

    def wants_full_blocks(self, chain: ChainConfig) -> bool:
        """Whether the scanner must fetch this range's blocks with full transactions."""
        return False

    def log_filter(self, chain: ChainConfig) -> LogFilter | None:
        """The logs to fetch for this chain, or None when no logs are needed."""
        return None

    def wants_traces(self, chain: ChainConfig) -> bool:
        """Whether the scanner must trace this range's blocks (`Block.internal_calls`, full blocks).

        Traced only where the chain has traces (chains.yaml `traces:`, see `EVMChain.with_traces`).
        """
        return False

    def match(self, chain: ChainConfig, blocks: Sequence[Block], logs: Sequence[Log]) -> Iterable[ObservedTransfer]:
        """Every transfer of this matcher's kind in `blocks` and `logs`, whatever its recipient
        (checksummed). Each subclass overrides it; the caller filters by deposit address."""
        raise NotImplementedError
