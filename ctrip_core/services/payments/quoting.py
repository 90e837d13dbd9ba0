"""A payment's price in a currency, quoted in crypto at a rate locked at creation (issue 18).

`price` is `{"amount": "25.00", "currency": "USD"}`: a decimal string with at most the currency's
minor units, in one of `rates.currencies`. With an asset, `quote` gives that asset's amount (price ÷
rate, rounded up: pricing/quotes.py). Without one, `open_options` quotes every configured asset of
every chain a fresh rate exists for: the payer pays in any of them, each transfer then credits its
value at its option's locked rate (rounded down to minor units: `credit_of_option`), so mixed assets
add up in the price's currency while sweeps stay per asset and chain.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ctrip_core.services.payments.payment_view import iso
from ctrip_core.money import MAX_UINT256, AmountError, parse_amount
from ctrip_core.pricing.currencies import MINOR_UNITS
from ctrip_core.pricing.quotes import quote_base_units, value_in_minor_units
from ctrip_core.pricing.rates import Rate, RateUnavailable
from ctrip_core.runtime import Runtime
from ctrip_core.services.errors import InvalidField, RateUnavailableError
from ctrip_core.services.payments.equivalence import same_asset


@dataclass(frozen=True)
class Price:
    base_units: int  # in the currency's minor units (cents)
    currency: str
    minor_units: int

    @property
    def decimal(self) -> Decimal:
        return Decimal(self.base_units).scaleb(-self.minor_units)


@dataclass(frozen=True)
class Quote:
    """A price quoted in an asset: the asset's base units for the price at `rate`."""

    amount: int
    price: Price
    rate: Rate


def parse_price(runtime: Runtime, price: Any) -> Price:
    """The price as the request gave it, or 422 naming the field."""
    if not isinstance(price, dict) or set(price) != {"amount", "currency"}:
        raise InvalidField('must be {"amount": "25.00", "currency": "USD"}', "price")
    currency = price["currency"]
    if not isinstance(currency, str) or currency not in runtime.rates.currencies:
        raise InvalidField(f"unknown currency {currency!r} (accepted: {', '.join(runtime.rates.currencies)})",
                           "price.currency")
    minor = MINOR_UNITS[currency]
    try:
        return Price(parse_amount(price["amount"], minor), currency, minor)
    except AmountError as exc:
        raise InvalidField(f"amount {str(exc).replace('this asset', currency)}", "price.amount") from None


def _quoted(price: Price, rate: Rate, decimals: int) -> Quote:
    amount = quote_base_units(price.decimal, rate.value, decimals)
    if amount > MAX_UINT256:
        raise InvalidField("quotes more than 2^256-1 base units of the asset", "price.amount")
    return Quote(amount, price, rate)


async def quote(runtime: Runtime, price: Price, symbol: str, decimals: int) -> Quote:
    """The price in `symbol` at a fresh rate, or 503 `rate_unavailable` naming the pair."""
    try:
        rate = await runtime.rates.rate(symbol, price.currency)
    except RateUnavailable as exc:
        raise RateUnavailableError(str(exc), "price.currency") from None
    return _quoted(price, rate, decimals)


async def open_options(runtime: Runtime, price: Price) -> list[dict[str, Any]]:
    """Every configured asset of every chain (those of payments.open_payment_assets, if listed) quoted
    at a fresh rate, in the runtime's chain order; an asset without one is left out; none: 503."""
    assets = [(chain.config, asset) for chain in runtime.chains.values()
              for asset in (chain.config.native, *chain.config.tokens)
              if runtime.open_assets.offers(chain.config.name, asset.symbol)]
    symbols = sorted({asset.symbol for _, asset in assets})

    async def rate_of(symbol: str) -> Rate | None:
        try:
            return await runtime.rates.rate(symbol, price.currency)
        except RateUnavailable:
            return None

    rates = dict(zip(symbols, await asyncio.gather(*(rate_of(s) for s in symbols))))
    options = []
    for config, asset in assets:
        rate = rates[asset.symbol]
        if rate is None:
            continue
        quoted = _quoted(price, rate, asset.decimals)
        options.append({"chain": config.name, "chain_id": config.chain_id, "asset": asset.symbol,
                        "token_address": getattr(asset, "address", None), "decimals": asset.decimals,
                        "amount_base_units": str(quoted.amount), "rate": str(rate.value), "rate_source": rate.source,
                        "rate_at": iso(rate.at)})
    if not options:
        raise RateUnavailableError(f"no rate in {price.currency} for any configured asset", "price.currency")
    return options


def option_for(options: list[dict[str, Any]], chain: str, token_address: str | None) -> dict[str, Any] | None:
    """The open payment's option of this chain and asset (the native coin: no token address)."""
    return next((o for o in options if same_asset(o["chain"], o["token_address"], chain, token_address)), None)


def credit_of_option(option: dict[str, Any], amount_base_units: int, minor_units: int) -> int:
    """What a transfer of `amount_base_units` in `option`'s asset credits an open payment, in the
    price's minor units at the option's locked rate, rounded down (the quote was rounded up, so
    paying an option's amount in full always credits at least the price)."""
    return value_in_minor_units(amount_base_units, option["decimals"], Decimal(option["rate"]), minor_units)
