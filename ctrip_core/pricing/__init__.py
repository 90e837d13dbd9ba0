"""Prices in a quote currency (issue 18): rate providers as plugins, and the exact rate math.

- `rates`: `Rate` (a `Decimal` with its pair, source and timestamp), the `RateProvider` base class a
  plugin registers through `ctrip_register_rate_providers`, and `combine` (fresh answers only, their
  median, refused when they disagree by more than the allowed spread);
- `quotes`: an asset amount for a price at a rate, rounded up to the asset's decimals, in one
  explicit `Decimal` context (never float);
- `providers/`: the core's providers (`fixed` pegs, and the `coinbase` and `kraken` spot APIs).
"""

from ctrip_core.pricing.rates import Rate, RateProvider, RateUnavailable

__all__ = ["Rate", "RateProvider", "RateUnavailable"]
