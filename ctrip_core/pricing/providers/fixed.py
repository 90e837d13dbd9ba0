"""`fixed`: a stablecoin's peg as its rate (USDC = 1 USD), from `peg:` on the asset in chains.yaml.

A peg is a claim, not a price: `rates.max_depeg` is enforced where a market source for the same pair
also answers (see `pricing.rates.combine`'s spread, which then refuses to quote a broken peg).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from ctrip_core.hookspecs import hookimpl
from ctrip_core.pricing.rates import Rate, RateProvider


class FixedRates(RateProvider):
    name = "fixed"

    def __init__(self, pegs: dict[str, str]):
        self._pegs = dict(pegs)  # asset symbol → the currency it is pegged to

    async def rate(self, base: str, quote: str) -> Rate | None:
        if self._pegs.get(base) != quote:
            return None
        return Rate(base, quote, Decimal(1), self.name, datetime.now(UTC))


def pegs_of(configs) -> dict[str, str]:
    """symbol → peg currency over every configured asset (of these ChainConfigs) that states `peg:`."""
    return {asset.symbol: asset.peg for chain in configs for asset in (chain.native, *chain.tokens) if asset.peg}


@hookimpl
def ctrip_register_rate_providers(register, settings, chains):
    register(FixedRates(pegs_of(chain.config for chain in chains)))
