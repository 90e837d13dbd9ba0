"""chains.yaml: one entry per chain, `${ENV}` references expanded, validated into `ChainConfig`s.

Structure is checked here (addresses, decimals, duplicate chain ids, symbols). Whether the adapter
exists and accepts the chain id is checked where plugins are known: `ctrip_core.chains.registry`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from eth_utils import is_checksum_address, is_hex_address, to_checksum_address
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
                      model_validator)

from ctrip_core.config.errors import ConfigError
from ctrip_core.config.node_url import shown
from ctrip_core.money import AmountError, parse_amount

DEFAULT_GAS_TANK_PATH = "m/44'/60'/0'/1/0"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SYMBOL = re.compile(r"[A-Za-z0-9.]{1,16}")


def checksummed(value: str) -> str:
    """Accept only an EIP-55 checksummed address; say which form was expected otherwise."""
    if not isinstance(value, str) or not is_hex_address(value):
        raise ValueError(f"{value!r} is not a 20-byte hex address")
    if not is_checksum_address(value):
        raise ValueError(f"{value} is not EIP-55 checksummed (expected {to_checksum_address(value)})")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AssetConfig(_Model):
    """The chain's native coin."""

    symbol: str
    decimals: int = Field(ge=0, le=77, strict=True)
    #: The currency this asset is pegged to (a stablecoin: USD), for the `fixed` rate provider.
    peg: str | None = Field(None, pattern=r"^[A-Z]{3,8}$")
    #: Price feeds on this chain: {"USD": {"chainlink": "0x…"}} (an AggregatorV3 of this asset in USD).
    price_feeds: dict[str, dict[Literal["chainlink"], str]] = Field(default_factory=dict)

    @field_validator("price_feeds")
    @classmethod
    def _feeds(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for currency, feeds in value.items():
            if not re.fullmatch(r"[A-Z]{3,8}", currency):
                raise ValueError(f"{currency!r} is not a currency code (3-8 capitals, e.g. USD)")
            for address in feeds.values():
                checksummed(address)
        return value

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        if not _SYMBOL.fullmatch(value):
            raise ValueError(f"{value!r} is not a symbol (1-16 letters, digits or dots)")
        return value


class TokenConfig(AssetConfig):
    """An ERC-20 token accepted on the chain. `min_sweep` (token units) batches dust until worth a sweep."""

    address: str
    min_sweep: str = "0"

    @model_validator(mode="after")
    def _min_sweep_fits_the_token(self) -> TokenConfig:
        """Checked like a payment amount (money.parse_amount): a decimal string with no more
        decimals than the token has, so what the operator wrote is exactly what is compared."""
        self.min_sweep_base_units()
        return self

    def min_sweep_base_units(self) -> int:
        if self.min_sweep == "0":
            return 0
        try:
            return parse_amount(self.min_sweep, self.decimals)
        except AmountError as exc:
            raise ValueError(f"min_sweep {exc}") from None

    _address = field_validator("address")(classmethod(lambda cls, v: checksummed(v)))


class ChainConfig(_Model):
    """One entry of chains.yaml. `confirmations` None means the adapter's default."""

    name: str
    adapter: str
    chain_id: int = Field(gt=0, strict=True)
    rpc_urls: list[str] = Field(min_length=1)
    ws_url: str | None = None
    #: How many distinct `rpc_urls` must agree on a transfer's receipt before it is confirmed
    #: (services/watching/quorum.py); 1: the answer of whichever node is asked.
    rpc_quorum: int = Field(1, ge=1, strict=True)
    #: Seconds one JSON-RPC HTTP request may take before it counts as a fault and is retried.
    rpc_timeout_s: float = Field(10, gt=0)
    confirmations: int | Literal["finalized"] | None = None
    #: None: the adapter's `default_block_time_s` (filled in by `chains.registry.build_chains`).
    block_time_s: float | None = Field(None, gt=0)
    native: AssetConfig
    tokens: list[TokenConfig] = Field(default_factory=list)
    treasury: str | None = None
    gas_tank: str = DEFAULT_GAS_TANK_PATH
    start_block: int | None = Field(None, ge=0)
    #: Internal transfers from call traces (ctrip_core/chains/traces.py): `auto` probes the nodes once.
    traces: Literal["auto", "debug", "trace", "off"] = "auto"
    #: A block explorer's base URL (`https://etherscan.io`): the dashboard links `{explorer_url}/tx/{hash}`
    #: and `{explorer_url}/address/{address}`. None: no links.
    explorer_url: str | None = Field(None, pattern=r"^https?://[^\s/\"'<>]+(/[^\s\"'<>]*)?$", max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _rpc_url_alias(cls, data: Any) -> Any:
        """Accept `rpc_url` as one URL or a list (failover order); store it as `rpc_urls`."""
        if isinstance(data, dict) and "rpc_url" in data:
            data = dict(data)
            urls = data.pop("rpc_url")
            data["rpc_urls"] = urls if isinstance(urls, list) else [urls]
        return data

    @field_validator("rpc_urls")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not isinstance(url, str) or not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
                raise ValueError(f"{shown(url) if isinstance(url, str) else repr(url)} is not an http(s) URL"
                                 " (scheme://host, no spaces)")
        return urls

    @model_validator(mode="after")
    def _quorum_within_urls(self) -> "ChainConfig":
        if self.rpc_quorum > len(self.rpc_urls):
            raise ValueError(f"rpc_quorum {self.rpc_quorum} needs as many distinct rpc_url entries; "
                             f"{len(self.rpc_urls)} configured")
        if len(set(self.rpc_urls)) < self.rpc_quorum:
            raise ValueError("rpc_quorum counts distinct URLs: rpc_url lists one twice")
        return self

    @field_validator("ws_url")
    @classmethod
    def _ws_url(cls, url: str | None) -> str | None:
        if url is not None and not re.fullmatch(r"wss?://[^\s/]+(/\S*)?", url):
            raise ValueError(f"{shown(url)} is not a ws(s) URL (scheme://host, no spaces)")
        return url

    @field_validator("traces", mode="before")
    @classmethod
    def _traces_off(cls, value: Any) -> Any:
        """YAML reads a bare `off` as false: that is `off`; a bare `on`/`true` names no mode."""
        if value is False:
            return "off"
        if value is True:
            raise ValueError("true is not a mode: say auto, debug, trace or off")
        return value

    @field_validator("confirmations")
    @classmethod
    def _positive(cls, value):
        if isinstance(value, int) and value < 1:
            raise ValueError("must be at least 1 or 'finalized'")
        return value

    @field_validator("treasury")
    @classmethod
    def _treasury(cls, value):
        return None if value is None else checksummed(value)

    @field_validator("tokens")
    @classmethod
    def _unique_symbols(cls, tokens: list[TokenConfig], info: ValidationInfo) -> list[TokenConfig]:
        native = info.data.get("native")
        seen = {native.symbol.upper()} if native is not None else set()
        for token in tokens:
            if token.symbol.upper() in seen:
                raise ValueError(f"asset symbol {token.symbol} appears twice")
            seen.add(token.symbol.upper())
        return tokens

    def asset(self, symbol: str) -> AssetConfig | None:
        """The native coin or token with this symbol (case-sensitive), or None."""
        if symbol == self.native.symbol:
            return self.native
        return next((t for t in self.tokens if t.symbol == symbol), None)

    def token(self, address: str) -> TokenConfig | None:
        """The configured token at this contract address (any letter case), or None."""
        return next((t for t in self.tokens if t.address.lower() == address.lower()), None)

    def asset_at(self, token: str | None) -> AssetConfig | None:
        """The asset a transfer of `token` moves: the native coin when None, else `token(token)`."""
        return self.native if token is None else self.token(token)


def _expand(value: Any, path: str) -> Any:
    """Replace `${VAR}` / `${VAR:-default}` in every string; an unset VAR without default is an error."""
    if isinstance(value, dict):
        return {k: _expand(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(path, f"environment variable {name} is not set")

    return _ENV_REF.sub(sub, value)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(str(path), f"cannot be read ({exc.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(where, f"YAML syntax error: {getattr(exc, 'problem', exc)}") from None


def _loc(path: Path, name: str, exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    parts = [name] + [str(p) for p in err["loc"]]
    key = ".".join(parts).replace(".rpc_urls", ".rpc_url")
    msg = err["msg"].removeprefix("Value error, ")
    return ConfigError(f"{path}: {key}", msg)


def parse_chains(data: Any, path: Path) -> dict[str, ChainConfig]:
    """Validate the loaded YAML document (a mapping of chain name → entry)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "must be a mapping of chain name to chain entry")
    chains: dict[str, ChainConfig] = {}
    by_id: dict[int, str] = {}
    for name, entry in data.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: {name}", "must be a mapping")
        try:
            chain = ChainConfig.model_validate({**_expand(entry, str(name)), "name": str(name)})
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc.where}", exc.message) from None
        except ValidationError as exc:
            raise _loc(path, str(name), exc) from None
        if chain.chain_id in by_id:
            raise ConfigError(f"{path}: {name}.chain_id",
                              f"chain id {chain.chain_id} is also used by {by_id[chain.chain_id]}")
        by_id[chain.chain_id] = chain.name
        chains[chain.name] = chain
    return chains


def load_chains(path: str | Path) -> dict[str, ChainConfig]:
    """Read, expand and validate chains.yaml; raises ConfigError naming the file, key or line."""
    path = Path(path)
    return parse_chains(_read_yaml(path), path)
