"""Process settings: dynaconf layers (settings.toml, CTRIP_ env vars) over the typed model's defaults.

Every default is the field's default in the models below, and only there: beside its type and
bounds, so a default cannot drift from what validation accepts, and every command works from any
directory with no file at all. Layers, later wins: those defaults; the project's `settings.toml`
(from $CTRIP_SETTINGS_FILE, else ./settings.toml when present), which holds only what the project
changes; environment variables `CTRIP_<KEY>` (nested `CTRIP_A__B`). The environment
(`[development]`, `[testing]`, `[production]`) is chosen by `CTRIP_ENV`, default `development`.
The result is validated once into `Settings`, so the rest of the code reads typed attributes,
never dynaconf.
"""

from __future__ import annotations

from decimal import Decimal

import os
import re
from pathlib import Path
from typing import Any

from dynaconf import Dynaconf
from pydantic import (BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, ValidationError, field_validator,
                      model_validator)

from ctrip_core.config.database_url import normalized_database_url
from ctrip_core.config.errors import ConfigError

ENVIRONMENTS = ("development", "testing", "production")
#: The environment when neither CTRIP_ENV nor `load_settings(env)` names one.
DEFAULT_ENVIRONMENT = "development"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PluginSettings(_Section):
    enabled: list[str] = Field(default_factory=list)


class WalletSettings(_Section):
    xpub: SecretStr | None = None
    mnemonic: SecretStr | None = None


class PaymentSettings(_Section):
    default_expiry_s: int = Field(3600, gt=0)
    min_expiry_s: int = Field(60, gt=0)
    max_expiry_s: int = Field(604800, gt=0)
    #: Groups of asset symbols that pay for one another on any configured chain, e.g.
    #: [["USDC"], ["USDT"]] (services/payments/equivalence.py). Empty: only the payment's own asset on
    #: its own chain counts; anything else is recorded (misdirected when on another chain) and swept.
    equivalent_assets: list[list[str]] = Field(default_factory=list)
    #: A payment short by no more than this share of its amount is confirmed (and says so:
    #: underpaid_within_tolerance); decided at creation. 0: the whole amount must arrive.
    underpaid_tolerance: Decimal = Field(Decimal(0), ge=0, lt=1)
    #: The assets an open payment offers, as "chain:SYMBOL" (ctrip_core/pricing/open_assets.py); empty: all
    #: configured assets with a fresh rate.
    open_payment_assets: list[str] = Field(default_factory=list)
    #: Lifetime of a priced payment (its rate is locked until it expires) when `expires_in` is not given.
    priced_expiry_s: int = Field(900, gt=0)
    #: Longest `expires_in` of a priced payment: how long the merchant carries the rate's risk at most.
    priced_max_expiry_s: int = Field(86400, gt=0)


class RateSettings(_Section):
    """Rates for prices in a quote currency (ctrip_core/pricing)."""

    #: The rate providers asked, in order (plugins registered through ctrip_register_rate_providers).
    providers: list[str] = Field(default_factory=lambda: ["fixed"])
    #: An answer older than this is not used.
    max_age_s: int = Field(300, gt=0)
    #: Several answers for one pair: refused when (highest - lowest) / median exceeds this.
    max_spread: Decimal = Field(Decimal("0.02"), ge=0)
    #: A peg (`fixed`) is refused when a market source says it is off by more than this.
    max_depeg: Decimal = Field(Decimal("0.02"), ge=0)
    #: Seconds a combined rate is reused before the providers are asked again.
    cache_s: int = Field(30, ge=0)
    #: Seconds one provider request may take.
    timeout_s: float = Field(5, gt=0)
    #: The currencies a price may be given in (ctrip_core/pricing/currencies.py knows their minor units).
    currencies: list[str] = Field(default_factory=lambda: ["USD", "EUR"])
    coinbase_url: str = "https://api.coinbase.com"
    kraken_url: str = "https://api.kraken.com"


class WebhookSettings(_Section):
    timeout_s: float = Field(10, gt=0)
    max_attempts: int = Field(20, ge=1)
    allow_private_targets: bool = False
    poll_s: float = Field(0.25, gt=0)
    concurrency: int = Field(50, ge=1)
    disable_after_s: int = Field(3 * 24 * 3600, gt=0)


class IdempotencySettings(_Section):
    #: An Idempotency-Key replays for 24 h after its first use, then is new again.
    ttl_s: int = Field(24 * 3600, gt=0)
    #: How often the scheduler enqueues the purge of expired keys.
    purge_every_s: float = Field(3600, gt=0)


class SweepSettings(_Section):
    gas_margin_pct: int = Field(120, ge=100, le=1000)
    replace_after_s: int = Field(180, gt=0)
    fee_bump_pct: int = Field(125, ge=111, le=1000)
    gas_tank_floor_wei: int = Field(10**16, ge=0)
    batch: int = Field(50, ge=1)


class PayoutSettings(_Section):
    """Payouts from merchants' payout wallets (docs/payouts.md)."""

    #: Asset symbol (any case) → amount (a decimal string) above which a payout waits as `awaiting_approval`
    #: until `ctrip payouts approve`; an asset not named needs no approval.
    approval_above: dict[str, str] = Field(default_factory=dict)
    #: Asset symbol (any case) → amount (a decimal string) one merchant may pay out (payouts and
    #: refunds) per asset and chain in 24 hours; past it a payout is 409 at creation, and the
    #: sweeper holds one it has not signed as `awaiting_approval` (an approved payout may exceed it).
    daily_limit: dict[str, str] = Field(default_factory=dict)
    #: Asset symbol (any case) → amount (a decimal string): while a merchant's payout wallet holds
    #: less of the asset (on a chain, at the ripe block, counting sweeps to it in flight), its
    #: deposits of that asset are swept to the payout wallet instead of its treasury.
    payout_float: dict[str, str] = Field(default_factory=dict)

    @field_validator("approval_above", "daily_limit", "payout_float")
    @classmethod
    def _decimal_amounts(cls, value: dict[str, str]) -> dict[str, str]:
        for symbol, amount in value.items():
            if not isinstance(amount, str) or not re.fullmatch(r"[0-9]+(\.[0-9]+)?", amount.strip()):
                raise ValueError(f"{symbol}: {amount!r} is not a decimal amount such as \"1000\" or \"0.5\"")
        # Keyed in upper case: dynaconf lowers the keys of CTRIP_ variables, and no two assets of a
        # chain differ only in case (chains_file refuses it).
        return {symbol.upper(): amount.strip() for symbol, amount in value.items()}


class ReconcileSettings(_Section):
    """The balance auditor (docs/reconcile.md)."""

    interval_s: float = Field(3600, gt=0)
    #: Deposit addresses per balance-reader eth_call: EIP-3860 caps its initcode at 49,152 bytes
    #: (about 1,490 addresses); gas is about 6.4 M per 1,000 addresses with one token.
    chunk: int = Field(1000, ge=1, le=1400)
    #: Blocks per eth_getLogs when a token shortfall is looked for in the address's history.
    log_range_blocks: int = Field(5000, ge=1)
    #: How long before a payment's creation its address's history is searched (clock skew, pre-issue funds).
    lookback_s: int = Field(3600, ge=0)
    #: At most this many blocks before the audit block are read again to explain a native shortfall.
    native_search_blocks: int = Field(10_000, ge=1)


class ScanSettings(_Section):
    """When a chain's scanner counts as stalled: `/ready` answers 503 past max(max_lag_min_s,
    max_lag_blocks x the chain's block_time_s) of lag while the node has blocks it has not scanned."""

    max_lag_blocks: int = Field(30, ge=1)
    max_lag_min_s: float = Field(60, gt=0)


class NotifierSettings(_Section):
    """`jsonl_path` is the core's own; every other key is the table of a notifier plugin
    (`notifiers.smtp` for ctrip-notify-smtp), passed through as given for the plugin to validate
    (a ConfigError naming its key), so that a notifier plugin needs no change here."""

    model_config = ConfigDict(extra="allow", frozen=True)

    jsonl_path: str | None = None

    @model_validator(mode="after")
    def _plugin_tables(self) -> "NotifierSettings":
        for key, value in (self.model_extra or {}).items():
            if not isinstance(value, dict):
                raise ValueError(f"unknown key {key!r} (a notifier plugin's settings are a table, notifiers.<name>)")
        return self


class ApiSettings(_Section):
    bind: str = "127.0.0.1:8000"
    workers: int = Field(1, ge=1)
    rate_limit_per_s: float = Field(50, gt=0)
    rate_limit_burst: int = Field(100, ge=1)
    key_cache_s: float = Field(60, ge=0)
    max_body_bytes: int = Field(65536, ge=1024)
    body_timeout_s: float = Field(10, gt=0, le=300)
    checkout_rate_limit_per_s: float = Field(10, gt=0)
    checkout_rate_limit_burst: int = Field(40, ge=1)
    #: Visits of `/pay/links/{id}` per client address (each makes a payment): the bucket's refill and size.
    payment_link_rate_per_s: float = Field(0.1, gt=0)
    payment_link_rate_burst: int = Field(5, ge=1)
    checkout_max_streams: int = Field(1000, ge=1)
    #: How often each open `/pay/{id}/events` stream re-reads its payment.
    checkout_poll_s: float = Field(1, gt=0)
    #: An event stream ends after this long (the browser reconnects), so none is held forever.
    checkout_stream_max_s: float = Field(600, gt=0)
    #: A silent stream sends a comment this often, so proxies do not close it as idle.
    checkout_keepalive_s: float = Field(15, gt=0)
    #: The browser's pace: its event-stream reconnect delay and its polling of `/pay/{id}/status`.
    checkout_client_poll_s: float = Field(3, gt=0)
    #: Seconds the page counts down after confirmation before following the payment's `redirect_url`.
    checkout_redirect_delay_s: int = Field(3, ge=0)
    #: Without JavaScript, the page reloads itself this often until the payment is final.
    checkout_refresh_s: int = Field(15, ge=1)
    #: Peers (CIDRs) whose X-Forwarded-For is believed: the reverse proxies in front (api/client_address.py).
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)


class MetricsSettings(_Section):
    """Where Prometheus scrapes `ctrip api` (api/metrics_access.py): never its public port unless `token` is set."""

    host: str = "127.0.0.1"
    #: `ctrip api` also listens on host:port and serves /metrics there (and only there); unset: no port.
    port: int | None = Field(None, ge=1, le=65535)
    #: When set, /metrics answers to `Authorization: Bearer <token>` only, on the API's port too.
    token: SecretStr | None = None

    @field_validator("token")
    @classmethod
    def _long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")  # never echoes the value
        return token


class Settings(_Section):
    """Every setting cTrip reads. Documented key by key in docs/configuration.md."""

    #: Chosen by CTRIP_ENV (or `load_settings(env)`), never by a settings file: set by `load_settings`.
    env: str
    #: Any form hosting providers give (postgres://, postgresql://) is used with asyncpg (config/database_url.py).
    database_url: str = "sqlite+aiosqlite:///.ctrip/ctrip.db"
    #: SQLite in production is refused unless this says it is meant (one process, no Redis workers).
    database_allow_sqlite: bool = False
    redis_url: str = "redis://127.0.0.1:6379/0"
    #: Relative to the working directory.
    chains_file: Path = Path("chains.yaml")
    #: Encrypts webhook signing secrets (and sealed idempotent replays) at rest: services/webhooks/secret_box.py.
    secret_key: SecretStr | None = None
    #: The key before the last rotation: still decrypts until `ctrip secret-key rotate` re-encrypted all.
    secret_key_previous: SecretStr | None = None
    plugins: PluginSettings = PluginSettings()
    wallet: WalletSettings = WalletSettings()
    payments: PaymentSettings = PaymentSettings()
    rates: RateSettings = RateSettings()
    webhooks: WebhookSettings = WebhookSettings()
    notifiers: NotifierSettings = NotifierSettings()
    sweeps: SweepSettings = SweepSettings()
    payouts: PayoutSettings = PayoutSettings()
    reconcile: ReconcileSettings = ReconcileSettings()
    scanning: ScanSettings = ScanSettings()
    api: ApiSettings = ApiSettings()
    metrics: MetricsSettings = MetricsSettings()
    idempotency: IdempotencySettings = IdempotencySettings()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalized_database_url(value)

    @field_validator("secret_key", "secret_key_previous")
    @classmethod
    def _strong_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            return None  # CTRIP_SECRET_KEY= (empty) is unset
        if value is not None:
            check_secret_key_strength(value.get_secret_value())
        return value


#: The shortest `secret_key` accepted, and the fewest distinct characters in it: 32 characters of
#: `secrets.token_urlsafe(32)` (43 characters, 256 bits) or a password manager's output pass; a
#: word, a repeated character or a short passphrase do not.
MIN_SECRET_KEY_CHARS = 32
MIN_SECRET_KEY_DISTINCT = 10


def check_secret_key_strength(key: str) -> None:
    if len(key) < MIN_SECRET_KEY_CHARS or len(set(key)) < MIN_SECRET_KEY_DISTINCT:
        raise ValueError(f"is too weak: at least {MIN_SECRET_KEY_CHARS} characters, {MIN_SECRET_KEY_DISTINCT} of "
                         "them different; make one with `python3 -c 'import secrets; "
                         "print(secrets.token_urlsafe(32))'`")


def _lower_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower_keys(v) for v in value]
    return value


#: Written by `ctrip dev` in the directory it runs in: its chains file, database, secret key and
#: xpub, so that other `ctrip` commands run there (development only) reach the same gateway.
DEV_SETTINGS_FILE = Path(".ctrip") / "settings.toml"


def _settings_files(env: str) -> list[str]:
    files = []
    explicit = os.environ.get("CTRIP_SETTINGS_FILE")
    if explicit:
        if not Path(explicit).is_file():
            raise ConfigError("CTRIP_SETTINGS_FILE", f"{explicit} does not exist")
        files.append(explicit)
    elif Path("settings.toml").is_file():
        files.append(str(Path("settings.toml").resolve()))
    if env == "development" and DEV_SETTINGS_FILE.is_file():
        files.append(str(DEV_SETTINGS_FILE.resolve()))
    return files


def _read_layers(env: str) -> dict[str, Any]:
    try:
        dyn = Dynaconf(envvar_prefix="CTRIP", environments=True, env=env, settings_files=_settings_files(env),
                       merge_enabled=True, load_dotenv=False)
        raw = _lower_keys(dyn.as_dict())
    except ConfigError:
        raise
    except Exception as exc:  # dynaconf raises toml errors of several types
        raise ConfigError("settings.toml", f"cannot be read: {exc}") from None
    for internal in ("env", "load_dotenv", "settings_file", "settings_files", "envvar_prefix"):
        raw.pop(internal, None)
    return raw


def _first_error(exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "settings"
    return ConfigError(key, err["msg"].removeprefix("Value error, "))


def _drop_foreign_env_keys(raw: dict[str, Any]) -> None:
    """Ignore top-level keys that only a plain `CTRIP_<KEY>` variable put there and no setting has.

    CTRIP_ also prefixes variables that are not settings (chains.yaml's `${CTRIP_ANVIL_RPC_URL}`,
    CTRIP_DEBUG, CTRIP_ANVIL_BIN, CTRIP_TEST_PG); dynaconf loads them all. Unknown keys from a
    settings file or a nested `CTRIP_A__B` variable still fail validation.
    """
    plain = {name[len("CTRIP_"):].lower() for name in os.environ
             if name.upper().startswith("CTRIP_") and "__" not in name}
    for key in list(raw):
        if key not in Settings.model_fields and key in plain:
            del raw[key]


def load_settings(env: str | None = None, **overrides: Any) -> Settings:
    """Read and validate the settings of environment `env` (default: $CTRIP_ENV or development).

    `overrides` replace top-level keys after all layers: for tests and `ctrip dev`.
    """
    env = (env or os.environ.get("CTRIP_ENV") or DEFAULT_ENVIRONMENT).lower()
    if env not in ENVIRONMENTS:
        raise ConfigError("CTRIP_ENV", f"must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
    raw = _read_layers(env)
    _drop_foreign_env_keys(raw)
    raw.update(overrides)
    raw["env"] = env
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise _first_error(exc) from None
    if env == "production":
        from ctrip_core.config.production import check_production_settings

        check_production_settings(settings)
    return settings
