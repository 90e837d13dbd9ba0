"""What a rate is, what a provider answers, and how several answers become one.

A rate says how many units of `quote` one unit of `base` is worth (base USDC, quote USD: 0.9998).
Providers answer evidence, not truth: an answer older than `max_age_s`, non-positive, or from a
clock ahead of ours is not used; several fresh answers give their median, refused when the highest
and lowest differ by more than `max_spread` of the median. No fresh answer: `RateUnavailable`,
never a stale or guessed rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal

#: Every rate computation runs in this context: 40 significant digits (a uint256 has 78, a rate
#: needs far fewer), half-even where a division does not end; traps on anything inexact at the edges.
RATE_CONTEXT = Context(prec=40, rounding=ROUND_HALF_EVEN)
#: How far ahead of our clock a provider's timestamp may be before the answer is not believed.
CLOCK_SKEW = timedelta(seconds=30)


class RateUnavailable(Exception):
    """No fresh, agreeing rate for `base`/`quote` (the API answers 503 `rate_unavailable`)."""

    def __init__(self, base: str, quote: str, why: str):
        super().__init__(f"no rate for {base}/{quote}: {why}")
        self.base, self.quote, self.why = base, quote, why


@dataclass(frozen=True)
class Rate:
    """`value` units of `quote` per unit of `base`, said by `source`, as of `at` (the source's own time)."""

    base: str
    quote: str
    value: Decimal
    source: str
    at: datetime


class RateProvider:
    """A source of rates, registered by a plugin through `ctrip_register_rate_providers(register, settings)`.

    `name` is what `rates.providers` lists. `rate` answers a `Rate` for the pair or None when this
    provider does not know it (or cannot be reached: say so in the log, never raise for an outage).
    It is awaited from the API's request path, so it must be bounded in time; the core caches
    answers for `rates.cache_s`.
    """

    name: str = ""

    async def rate(self, base: str, quote: str) -> Rate | None:
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections; called when the process stops."""


def usable(answer: object, base: str, quote: str, now: datetime, max_age_s: float) -> Rate | None:
    """The answer if it is a positive, finite rate for this very pair, not older than `max_age_s`
    and not from the future (beyond CLOCK_SKEW); else None."""
    if not isinstance(answer, Rate) or (answer.base, answer.quote) != (base, quote):
        return None
    if not isinstance(answer.value, Decimal) or not answer.value.is_finite() or answer.value <= 0:
        return None
    if answer.at.tzinfo is None or answer.at > now + CLOCK_SKEW or now - answer.at > timedelta(seconds=max_age_s):
        return None
    return answer


def combine(base: str, quote: str, answers: Sequence[Rate], max_spread: Decimal) -> Rate:
    """One rate from the usable answers: their median (an even count: the mean of the middle two),
    refused when (highest − lowest) ÷ median exceeds `max_spread`."""
    if not answers:
        raise RateUnavailable(base, quote, "no provider answered a fresh rate")
    values = sorted(a.value for a in answers)
    middle = len(values) // 2
    median = values[middle] if len(values) % 2 else RATE_CONTEXT.divide(
        RATE_CONTEXT.add(values[middle - 1], values[middle]), 2)
    spread = RATE_CONTEXT.divide(RATE_CONTEXT.subtract(values[-1], values[0]), median)
    if spread > max_spread:
        shown = ", ".join(f"{a.source} {a.value}" for a in answers)
        raise RateUnavailable(base, quote, f"sources disagree by {spread:.4%} (more than {max_spread:%}): {shown}")
    if len(answers) == 1:
        return answers[0]
    return Rate(base, quote, median, "median(" + ",".join(a.source for a in answers) + ")",
                min(a.at for a in answers))
