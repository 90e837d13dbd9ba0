"""The rate of a pair, as the API quotes it: asked of the configured providers, checked, combined, cached.

Every provider in `rates.providers` is asked (concurrently, each bounded by `rates.timeout_s`); answers
that are not usable (`rates.usable`: stale, another pair, not positive) are dropped. A peg (`fixed`)
is a claim: where a market source also answers, the peg is refused when the market's median is off
by more than `rates.max_depeg`, and used as it is when within. Market answers alone are combined
(`rates.combine`: their median, refused past `rates.max_spread`). A combined rate is reused for
`rates.cache_s` seconds, and only while it is still fresh by its own timestamp. A failure is never
cached, and never answered with an older rate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from ctrip_core.config import ConfigError
from ctrip_core.pricing.currencies import MINOR_UNITS
from ctrip_core.pricing.rates import RATE_CONTEXT, Rate, RateProvider, RateUnavailable, combine, usable

log = logging.getLogger(__name__)
PEG = "fixed"


class RateBook:
    def __init__(self, providers: Sequence[RateProvider], settings, *, clock: Callable[[], float] = time.monotonic):
        unknown = [c for c in settings.currencies if c not in MINOR_UNITS]
        if unknown:
            raise ConfigError("rates.currencies", f"{unknown[0]!r} is not a currency cTrip knows the minor units of "
                                                  f"({', '.join(sorted(MINOR_UNITS))})")
        self._providers, self._settings, self._clock = list(providers), settings, clock
        self._cache: dict[tuple[str, str], tuple[float, Rate]] = {}

    @property
    def currencies(self) -> list[str]:
        return list(self._settings.currencies)

    async def rate(self, base: str, quote: str) -> Rate:
        """A fresh rate of `quote` per unit of `base`, or `RateUnavailable` naming the pair."""
        now = datetime.now(UTC)
        cached = self._cache.get((base, quote))
        if cached is not None and self._clock() < cached[0] and usable(cached[1], base, quote, now,
                                                                      self._settings.max_age_s):
            return cached[1]
        rate = self._judge(base, quote, await self._ask(base, quote, now))
        self._cache[(base, quote)] = (self._clock() + self._settings.cache_s, rate)
        return rate

    async def _ask(self, base: str, quote: str, now: datetime) -> list[Rate]:
        async def one(provider: RateProvider) -> Rate | None:
            try:  # bounded here too: a provider's own retries (a node's) must not hold a request
                answer = await asyncio.wait_for(provider.rate(base, quote), self._settings.timeout_s)
                return usable(answer, base, quote, now, self._settings.max_age_s)
            except Exception as exc:  # noqa: BLE001 - a provider's defect or timeout is its answer missing, not a 500
                log.warning("rate provider %s failed for %s/%s: %s", provider.name, base, quote, type(exc).__name__)
                return None
        answers = await asyncio.gather(*(one(p) for p in self._providers))
        return [a for a in answers if a is not None]

    def _judge(self, base: str, quote: str, answers: list[Rate]) -> Rate:
        pegs = [a for a in answers if a.source == PEG]
        market = [a for a in answers if a.source != PEG]
        if not pegs:
            return combine(base, quote, market, self._settings.max_spread)
        peg = pegs[0]
        if market:
            seen = combine(base, quote, market, self._settings.max_spread)
            off = abs(RATE_CONTEXT.divide(RATE_CONTEXT.subtract(seen.value, peg.value), peg.value))
            if off > self._settings.max_depeg:
                raise RateUnavailable(base, quote, f"the peg of {peg.value} is off by {off:.4%} ({seen.source} says "
                                                   f"{seen.value}; rates.max_depeg is {self._settings.max_depeg:%})")
        return peg

    async def close(self) -> None:
        for provider in self._providers:
            await provider.close()
