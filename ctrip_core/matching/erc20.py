"""The core's `erc20` matcher: `Transfer(address,address,uint256)` logs of the configured tokens.

A log is only emitted by a successful transaction, so no receipt check is needed. Logs from a
contract that is not a configured token are never fetched, so fake tokens cannot pay.
"""

from __future__ import annotations

from ctrip_core.chains.types import checksum
from ctrip_core.hookspecs import hookimpl
from ctrip_core.matching import LogFilter, Matcher, ObservedTransfer

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"


def _topic_address(topic: str) -> str:
    return checksum(topic[-40:])  # topics are parsed lowercase


class Erc20Matcher(Matcher):
    kind = "erc20"

    def log_filter(self, chain):
        if not chain.tokens:
            return None
        return LogFilter(addresses=tuple(t.address for t in chain.tokens), topics=(TRANSFER_TOPIC,))

    def match(self, chain, blocks, logs):
        tokens = {t.address: t for t in chain.tokens}
        for log in logs:
            token = tokens.get(log.address)
            if token is None or log.removed or len(log.topics) != 3 or log.topics[0] != TRANSFER_TOPIC:
                continue
            to_address = _topic_address(log.topics[2])
            if len(log.data) != 66:
                continue
            yield ObservedTransfer(
                chain=chain.name, asset=token.symbol, token_address=token.address, tx_hash=log.tx_hash,
                log_index=log.log_index, block_number=log.block_number, block_hash=log.block_hash,
                from_address=_topic_address(log.topics[1]), to_address=to_address,
                amount_base_units=int(log.data, 16), source="log")


@hookimpl
def ctrip_register_matchers(register):
    register(Erc20Matcher())
