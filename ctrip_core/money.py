"""Amounts: decimal strings at the edges, integers of base units inside. No float ever touches money.

`parse_amount("12.50", 6) == 12_500_000`; `format_amount(12_500_000, 6) == "12.5"`.
"""

from __future__ import annotations

import re

MAX_UINT256 = 2**256 - 1
#: An amount as written: digits, then optionally a point and more digits (no sign, exponent or space).
DECIMAL_PATTERN = r"(0|[1-9][0-9]*)(?:\.([0-9]+))?"
_DECIMAL = re.compile(DECIMAL_PATTERN)
MAX_AMOUNT_CHARS = 100


class AmountError(ValueError):
    """An amount string that cannot be a payment amount; the message says why."""


def parse_amount(text: object, decimals: int) -> int:
    """A positive decimal string in asset units → base units; strict (no sign, exponent, spaces)."""
    if not isinstance(text, str):
        raise AmountError("must be a decimal string such as \"12.50\", not a JSON number")
    if len(text) > MAX_AMOUNT_CHARS:
        raise AmountError(f"must be at most {MAX_AMOUNT_CHARS} characters")
    match = _DECIMAL.fullmatch(text)  # not match + $: $ also matches before a final newline
    if not match:
        raise AmountError(f"{text!r} is not a plain decimal number (digits, one optional '.', no sign or exponent)")
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > decimals:
        raise AmountError(f"has {len(fraction)} decimals; this asset has {decimals}")
    base_units = int(whole) * 10**decimals + int(fraction.ljust(decimals, "0") or "0")
    if base_units == 0:
        raise AmountError("must be greater than zero")
    if base_units > MAX_UINT256:
        raise AmountError("is larger than 2^256-1 base units")
    return base_units


def format_amount(base_units: int, decimals: int) -> str:
    """Base units → the shortest exact decimal string ("12.5", "0.000001", "3")."""
    if isinstance(base_units, bool) or not isinstance(base_units, int):
        raise TypeError("base units must be an int")
    sign = "-" if base_units < 0 else ""
    whole, fraction = divmod(abs(base_units), 10**decimals)
    if decimals == 0 or fraction == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}." + str(fraction).rjust(decimals, "0").rstrip("0")
