"""What an API key may do: its scopes, and the one rule for spelling and checking them.

- `read`: every GET (payments, events, refunds, payouts, balances, reports);
- `payments`: create and cancel payments, manage webhook endpoints;
- `refunds`: refund a payment to the sender of its transfer;
- `payouts`: send money anywhere: payouts, and a refund to any address other than the sender's.

A key made by `ctrip merchant create` or `add-key` has `read` and `payments` unless `--scope` says
more. Scopes are stored as their names sorted and joined by commas (`api_keys.scopes`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

Scope = Literal["read", "payments", "refunds", "payouts"]
SCOPES: tuple[str, ...] = get_args(Scope)
DEFAULT_SCOPES: tuple[str, ...] = ("read", "payments")


class UnknownScope(ValueError):
    """A scope name that is not one of SCOPES."""


def stored_scopes(scopes: Iterable[str] | None) -> str:
    """The column value for `scopes` (DEFAULT_SCOPES when None or empty); raises UnknownScope."""
    names = {s.strip() for s in (scopes or DEFAULT_SCOPES) if s.strip()} or set(DEFAULT_SCOPES)
    unknown = sorted(names - set(SCOPES))
    if unknown:
        raise UnknownScope(f"unknown scope {unknown[0]!r}: one of {', '.join(SCOPES)}")
    return ",".join(sorted(names))


def scopes_of(stored: str | None) -> frozenset[str]:
    """The scopes a stored value grants (anything unknown in it grants nothing)."""
    return frozenset(s for s in (stored or "").split(",") if s in SCOPES)
