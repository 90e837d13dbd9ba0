"""The core's `internal` matcher: native coin sent to deposit addresses by contracts, from call traces.

Safe wallets, smart accounts and exchanges' batched withdrawals pay with an internal call, which
no block or log shows. Where the chain has traces (chains.yaml `traces:`, ctrip_core/chains/traces.py)
every successful value-moving call below a transaction's top-level frame is a transfer with
`source='trace'` and log_index `-2 - position` (its ordinal among the transaction's value-moving
calls, see chains/traces.py): unique within the transaction, never a token log's (>= 0) nor the top-level value's (-1, the `native` matcher's),
and the same whenever the transaction is traced again. Reverted calls and calls under a reverted
parent are left out by the trace reader, so no receipt check is needed.
"""

from __future__ import annotations

from ctrip_core.chains.traces import internal_log_index
from ctrip_core.hookspecs import hookimpl
from ctrip_core.matching import Matcher, ObservedTransfer


class InternalMatcher(Matcher):
    kind = "internal"

    def wants_traces(self, chain):
        return chain.traces != "off"

    def match(self, chain, blocks, logs):
        for block in blocks:
            for call in block.internal_calls or ():
                yield ObservedTransfer(
                    chain=chain.name, asset=chain.native.symbol, token_address=None, tx_hash=call.tx_hash,
                    log_index=internal_log_index(call.position), block_number=block.number,
                    block_hash=block.hash, from_address=call.from_address, to_address=call.to_address,
                    amount_base_units=call.value, source="trace")


@hookimpl
def ctrip_register_matchers(register):
    register(InternalMatcher())
