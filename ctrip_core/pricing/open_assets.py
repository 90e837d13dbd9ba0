"""Which configured assets an open payment (a price, no asset) offers as options.

`payments.open_payment_assets` lists them as "chain:SYMBOL" (e.g. ["base:USDC", "ethereum:USDC"]);
empty, every configured asset a fresh rate exists for. Rates are asked by symbol, so a deployment
that configures a testnet beside its mainnet (Sepolia's ETH is not worth Ethereum's) lists the
assets it means to accept. An entry naming no configured asset is a start-up error.
"""

from __future__ import annotations

from collections.abc import Iterable

from ctrip_core.config import ChainConfig
from ctrip_core.config.errors import ConfigError

KEY = "payments.open_payment_assets"


class OpenAssets:
    def __init__(self, chains: Iterable[ChainConfig], entries: list[str]):
        configured = {(c.name, a.symbol) for c in chains for a in (c.native, *c.tokens)}
        self._listed: set[tuple[str, str]] = set()
        for entry in entries:
            chain, _, symbol = entry.partition(":")
            if (chain, symbol) not in configured:
                raise ConfigError(KEY, f"{entry!r} is not a configured asset (write chain:SYMBOL, e.g. base:USDC)")
            self._listed.add((chain, symbol))

    def offers(self, chain: str, symbol: str) -> bool:
        return not self._listed or (chain, symbol) in self._listed
