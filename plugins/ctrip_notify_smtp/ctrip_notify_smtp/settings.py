"""`notifiers.smtp`: the plugin's own settings table, validated here (the core passes any
`notifiers.<name>` table through untouched), with a one-line ConfigError naming the key.

Off unless `host` is set. The password is a SecretStr: never printed, logged or echoed in an error.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from ctrip_core.config import ConfigError, Settings

SECTION = "notifiers.smtp"
#: The port when none is given, by `tls`.
DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}


def _no_line_breaks(value: str) -> str:
    if any(ch in value for ch in "\r\n\x00"):
        raise ValueError("must not contain CR, LF or NUL")
    return value


class SmtpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The SMTP server; unset: the plugin registers no notifier.
    host: str | None = None
    #: Default by `tls`: 25 (none), 587 (starttls), 465 (tls).
    port: int | None = Field(None, ge=1, le=65535)
    #: "starttls" (upgrade after connecting), "tls" (implicit TLS) or "none" (plain; a local relay only).
    tls: Literal["none", "starttls", "tls"] = "starttls"
    #: The From address, e.g. "cTrip <payments@shop.example>"; required when `host` is set.
    sender: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    #: Seconds each SMTP operation (connect, each command) may take.
    timeout_s: float = Field(10, gt=0, le=300)
    #: Tries per email; the n-th retry waits retry_base_s x 4^(n-1) (5 s, 20 s, 80 s by default).
    attempts: int = Field(4, ge=1, le=10)
    retry_base_s: float = Field(5, gt=0, le=3600)
    #: Emails held in memory (queued or waiting for a retry) at most; past it new ones are dropped, logged.
    queue_max: int = Field(10_000, ge=1)

    @field_validator("host", "sender", "username", "password", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):  # TOML read 123456 as a number; never echo it
            raise ValueError("must be a string (quote it; in an environment variable write '@str ...')")
        return value

    @field_validator("host", "username")
    @classmethod
    def _plain(cls, value: str | None) -> str | None:
        if value is not None:
            _no_line_breaks(value)
            if not value.strip():
                raise ValueError("must not be empty")
        return value

    @field_validator("sender")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            _no_line_breaks(value)
            if "@" not in parseaddr(value)[1]:
                raise ValueError('must be an email address, e.g. "cTrip <payments@shop.example>"')
        return value

    @property
    def enabled(self) -> bool:
        return self.host is not None

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.tls]

    @property
    def sender_domain(self) -> str:
        return parseaddr(self.sender or "")[1].rpartition("@")[2] or "ctrip.invalid"


def smtp_settings(settings: Settings) -> SmtpSettings:
    """The validated `notifiers.smtp` table of `settings` (defaults when absent); ConfigError naming the key."""
    raw = (settings.notifiers.model_extra or {}).get("smtp") or {}
    try:
        parsed = SmtpSettings.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join([SECTION, *(str(p) for p in err["loc"])])
        raise ConfigError(where, err["msg"].removeprefix("Value error, ")) from None
    if parsed.host is not None and parsed.sender is None:
        raise ConfigError(f"{SECTION}.sender", "is required when notifiers.smtp.host is set")
    if parsed.password is not None and parsed.username is None:
        raise ConfigError(f"{SECTION}.username", "is required when notifiers.smtp.password is set")
    return parsed
