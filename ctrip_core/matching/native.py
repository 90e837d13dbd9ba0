"""The core's `native` matcher: value transfers of the chain's coin, read from full blocks.

Only top-level transactions are seen here; value sent by contracts (internal calls) is the
`internal` matcher's (matching/internal.py), from call traces.
The receipt status is checked by the scanner before a transfer counts (a reverted tx moves nothing).
"""

from __future__ import annotations

from ctrip_core.hookspecs import hookimpl
from ctrip_core.matching import NATIVE_LOG_INDEX, Matcher, ObservedTransfer


class NativeMatcher(Matcher):
    kind = "native"

    def wants_full_blocks(self, chain):
        return True

    def match(self, chain, blocks, logs):
        for block in blocks:
            for tx in block.transactions:
                if tx.value > 0 and tx.to_address is not None:
                    yield ObservedTransfer(
                        chain=chain.name, asset=chain.native.symbol, token_address=None, tx_hash=tx.hash,
                        log_index=NATIVE_LOG_INDEX, block_number=block.number, block_hash=block.hash,
                        from_address=tx.from_address, to_address=tx.to_address, amount_base_units=tx.value,
                        needs_receipt_status=True)


@hookimpl
def ctrip_register_matchers(register):
    register(NativeMatcher())
