"""`database_url`: the one rule for which database URLs cTrip accepts and which driver each one uses.

cTrip talks to databases through async drivers only: asyncpg for PostgreSQL, aiosqlite for SQLite.
Hosting providers hand out `postgres://…` or `postgresql://…` (no driver), and a developer may
write `sqlite:///x.db`; those are mapped to their async driver. Any URL no installed driver can
serve (MySQL, a sync PostgreSQL driver, not a URL at all) is refused here, naming `database_url`,
instead of failing later with ModuleNotFoundError. Errors never repeat the password.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

#: scheme as written → the scheme cTrip uses.
ACCEPTED = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def shown_database(url: str | URL) -> str:
    """The URL with its password masked, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<not a URL>"


def normalized_database_url(value: str) -> str:
    """`value` with its driver made explicit; ValueError (a one-line reason) for a URL that cannot work."""
    if not isinstance(value, str) or "://" not in value:
        raise ValueError("is not a URL; expected postgresql://user:password@host:5432/dbname "
                         "(or sqlite:///path.db in development)")
    scheme, rest = value.split("://", 1)
    target = ACCEPTED.get(scheme.lower())
    if target is None:
        raise ValueError(f"scheme {scheme}:// is not supported; cTrip runs on PostgreSQL "
                         "(postgresql://…, driver asyncpg) or SQLite (sqlite:///…, driver aiosqlite)")
    url = f"{target}://{rest}"
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ValueError("is not a valid database URL") from None
    if target.startswith("postgresql") and not parsed.host and not parsed.query.get("host"):
        raise ValueError(f"{shown_database(parsed)} names no host")
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")
