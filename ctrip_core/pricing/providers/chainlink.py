"""`chainlink`: an AggregatorV3 price feed read through the node cTrip already uses for that chain.

`chains.yaml` names a feed per asset and currency: `price_feeds: {USD: {chainlink: "0x…"}}`. The
rate is `latestRoundData().answer / 10^decimals()`, dated by the round's `updatedAt`, so a feed that
stopped updating is refused by its age (`rates.max_age_s`, in `pricing.rates.usable`); a
non-positive answer, or an answer not of the documented shape, is no answer. Both calls are parsed
inside the node client's retry loop; needs no API key and no third party beyond the node.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

from ctrip_core.chains.rpc import RpcError
from ctrip_core.chains.types import MalformedAnswer
from ctrip_core.hookspecs import hookimpl
from ctrip_core.pricing.rates import Rate, RateProvider

log = logging.getLogger(__name__)
DECIMALS = "0x313ce567"  # decimals()
LATEST_ROUND_DATA = "0xfeaf968c"  # latestRoundData()
MAX_FEED_DECIMALS = 36


def _words(result: object, count: int) -> list[int]:
    if not isinstance(result, str) or not result.startswith("0x") or len(result) != 2 + 64 * count:
        raise MalformedAnswer(f"eth_call: expected {count} ABI words")
    try:
        return [int(result[2 + 64 * i:66 + 64 * i], 16) for i in range(count)]
    except ValueError:
        raise MalformedAnswer("eth_call: not hex") from None


def parse_decimals(result: object) -> int:
    (value,) = _words(result, 1)
    if value > MAX_FEED_DECIMALS:
        raise MalformedAnswer(f"decimals(): {value} is not a feed's")
    return value


def parse_round(result: object) -> tuple[int, int]:
    """(answer as a signed int256, updatedAt) of latestRoundData()."""
    _, answer, _, updated_at, _ = _words(result, 5)
    return (answer - 2**256 if answer >= 2**255 else answer), updated_at


class ChainlinkRates(RateProvider):
    name = "chainlink"

    def __init__(self, feeds: dict[tuple[str, str], tuple[object, str]]):
        self._feeds = feeds  # (asset symbol, currency) → (EVMChain, aggregator address)

    async def rate(self, base: str, quote: str) -> Rate | None:
        feed = self._feeds.get((base, quote))
        if feed is None:
            return None
        chain, address = feed
        try:
            decimals = await chain.rpc.call("eth_call", {"to": address, "data": DECIMALS}, "latest",
                                            parse=lambda _method, _params, result: parse_decimals(result))
            answer, updated_at = await chain.rpc.call("eth_call", {"to": address, "data": LATEST_ROUND_DATA},
                                                      "latest", parse=lambda _method, _params, result:
                                                      parse_round(result))
        except RpcError as exc:
            log.warning("rate provider chainlink: no answer for %s/%s from %s (%s)", base, quote, address,
                        type(exc).__name__)
            return None
        if answer <= 0 or updated_at <= 0:
            return None
        return Rate(base, quote, Decimal(answer).scaleb(-decimals), self.name, datetime.fromtimestamp(updated_at, UTC))


def feeds_of(chains) -> dict[tuple[str, str], tuple[object, str]]:
    """(symbol, currency) → (chain, aggregator) over every configured asset's `price_feeds` (first chain wins)."""
    feeds: dict[tuple[str, str], tuple[object, str]] = {}
    for chain in chains:
        for asset in (chain.config.native, *chain.config.tokens):
            for currency, sources in asset.price_feeds.items():
                if "chainlink" in sources:
                    feeds.setdefault((asset.symbol, currency), (chain, sources["chainlink"]))
    return feeds


@hookimpl
def ctrip_register_rate_providers(register, settings, chains):
    register(ChainlinkRates(feeds_of(chains)))
