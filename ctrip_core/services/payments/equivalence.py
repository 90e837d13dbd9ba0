"""Which assets pay for one another, and what a transfer is worth in its payment's own asset.

A payment is owed in one asset on one chain. A transfer of that very asset on that chain credits its
whole amount. Another asset, on that chain or another (the deposit address is the same on every EVM
chain), credits nothing unless `payments.equivalent_assets` puts both symbols in one group (for
example `[["USDC"], ["USDT"]]`: USDC on any chain pays a USDC payment; `[["USDC", "USDT"]]`: a dollar
stablecoin is a dollar stablecoin). Then it credits its amount converted between the two assets'
decimals, rounded down: never more than arrived.

The credit is computed once, when the transfer is recorded (`Transfer.credited_base_units`), so a
later change of configuration never re-values what a payment already received. A transfer that
credits nothing is still recorded (and swept where it landed); on another chain it is misdirected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ctrip_core.config import ChainConfig
from ctrip_core.config.errors import ConfigError

KEY = "payments.equivalent_assets"


@dataclass(frozen=True)
class _Asset:
    symbol: str
    decimals: int


def _key(chain: str, token_address: str | None) -> tuple[str, str | None]:
    return chain, token_address.lower() if token_address else None


def same_asset(chain: str, token_address: str | None, other_chain: str, other_token: str | None) -> bool:
    """The same asset on the same chain (the native coin: no token address; addresses in any case)."""
    return _key(chain, token_address) == _key(other_chain, other_token)


class Equivalence:
    """The configured assets of every chain and the groups of symbols that count for one another."""

    def __init__(self, chains: Iterable[ChainConfig], groups: list[list[str]]):
        self._assets: dict[tuple[str, str | None], _Asset] = {}
        for chain in chains:
            self._assets[_key(chain.name, None)] = _Asset(chain.native.symbol, chain.native.decimals)
            for token in chain.tokens:
                self._assets[_key(chain.name, token.address)] = _Asset(token.symbol, token.decimals)
        symbols = {asset.symbol for asset in self._assets.values()}
        self._group: dict[str, int] = {}
        for number, group in enumerate(groups):
            for symbol in group:
                if symbol not in symbols:
                    raise ConfigError(KEY, f"{symbol!r} is not the symbol of a configured asset on any chain")
                if symbol in self._group:
                    raise ConfigError(KEY, f"{symbol!r} is in two groups")
                self._group[symbol] = number

    def paying_chains(self, chain: str) -> frozenset[str]:
        """The other chains with an asset equivalent to one of `chain`'s: where its payments may be paid.
        Their scanners must have passed a payment's expiry before it is judged (watching/expiry.py)."""
        groups = {self._group[a.symbol] for (name, _), a in self._assets.items()
                  if name == chain and a.symbol in self._group}
        return frozenset(name for (name, _), a in self._assets.items()
                         if name != chain and self._group.get(a.symbol) in groups)

    def credit(self, owed_chain: str, owed_token: str | None, paid_chain: str, paid_token: str | None,
               amount: int) -> int | None:
        """What `amount` base units of (paid_chain, paid_token) credit a payment owed in (owed_chain,
        owed_token), in the owed asset's base units; None: it does not count toward it."""
        if same_asset(paid_chain, paid_token, owed_chain, owed_token):
            return amount
        paid, owed = self._assets.get(_key(paid_chain, paid_token)), self._assets.get(_key(owed_chain, owed_token))
        if paid is None or owed is None:
            return None
        group = self._group.get(paid.symbol)
        if group is None or group != self._group.get(owed.symbol):
            return None
        if owed.decimals >= paid.decimals:
            return amount * 10 ** (owed.decimals - paid.decimals)
        return amount // 10 ** (paid.decimals - owed.decimals)
