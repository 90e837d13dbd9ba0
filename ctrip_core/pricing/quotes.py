"""An asset amount for a price: price ÷ rate, rounded **up** to the asset's decimals (the merchant
is never paid less than the price at the locked rate), and what base units are worth at a rate,
rounded **down**, both in base units and exact: the decimals are turned into exact fractions
(`Fraction(Decimal)` loses nothing) and divided as integers, so no context's precision can round
a result the wrong way, whatever the size of the price, the rate or the amount. Never float.

    >>> from decimal import Decimal
    >>> quote_base_units(Decimal("25.00"), Decimal("0.9998"), 6)   # 25.005001000200... USDC
    25005002
    >>> quote_base_units(Decimal("10"), Decimal("3"), 0)           # 3.33... of a 0-decimal asset
    4
    >>> value_in_minor_units(1_000_406_380_000_000_000_000_000, 18, Decimal("0.99987"), 2)  # 1000276.32...
    100027632
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction


def _exact(value: Decimal, what: str) -> Fraction:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise ValueError(f"{what} must be a positive, finite Decimal")
    return Fraction(value)


def quote_base_units(price: Decimal, rate: Decimal, decimals: int) -> int:
    """`price` (in the quote currency) ÷ `rate` (quote per unit of asset), in base units of an asset
    of `decimals`, rounded up."""
    units = _exact(price, "price") * 10**decimals / _exact(rate, "rate")
    return -(-units.numerator // units.denominator)


def value_of(base_units: int, decimals: int, rate: Decimal) -> Fraction:
    """What `base_units` of an asset of `decimals` are worth at `rate`, exactly (no rounding)."""
    return Fraction(base_units, 10**decimals) * _exact(rate, "rate")


def value_in_minor_units(base_units: int, decimals: int, rate: Decimal, minor_units: int) -> int:
    """`value_of` in the currency's minor units (cents), rounded down: what a transfer is credited."""
    value = value_of(base_units, decimals, rate) * 10**minor_units
    return value.numerator // value.denominator
