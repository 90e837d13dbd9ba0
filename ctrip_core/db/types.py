"""Column types that keep money exact and timestamps in UTC on every supported database.

Money is an integer count of base units (wei, or a token's smallest unit) up to 2**256 - 1, the
range of an EVM uint256. PostgreSQL stores it as NUMERIC(78, 0), which holds every uint256 exactly.
SQLite's NUMERIC affinity would turn anything past 2**63 into a lossy REAL, so there it is TEXT,
zero-padded to 78 digits: padding keeps ORDER BY, MIN/MAX and comparisons between columns or against
bound values correct, since equal-length digit strings sort like the numbers they spell.
A float is refused on the way in: no float ever touches money.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, Integer, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

#: Largest value a BaseUnits column holds: an EVM uint256.
MAX_BASE_UNITS = 2**256 - 1
#: Decimal digits of MAX_BASE_UNITS, and the width of the column.
BASE_UNITS_DIGITS = 78

#: An integer surrogate key: BIGINT on PostgreSQL; on SQLite plain INTEGER, the only type that
#: aliases the rowid and so autoincrements.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def check_base_units(value: object) -> int:
    """Return value if it is an int in [0, 2**256 - 1]; raise TypeError or ValueError otherwise.

    bool is an int subclass but never an amount, so it is refused like float and Decimal.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"base units must be an int, not {type(value).__name__}")
    if not 0 <= value <= MAX_BASE_UNITS:
        raise ValueError(f"base units out of range [0, 2**256 - 1]: {value}")
    return value


class BaseUnits(TypeDecorator[int]):
    """An unsigned integer amount in base units; always a Python int, never a float."""

    impl = Numeric(BASE_UNITS_DIGITS, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[object]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(BASE_UNITS_DIGITS))
        return dialect.type_descriptor(Numeric(BASE_UNITS_DIGITS, 0, asdecimal=True))

    def process_bind_param(self, value: object, dialect: Dialect) -> str | Decimal | None:
        if value is None:
            return None
        amount = check_base_units(value)
        if dialect.name == "sqlite":
            return str(amount).zfill(BASE_UNITS_DIGITS)
        return Decimal(amount)  # exact: Decimal(int) ignores the context's precision

    def process_literal_param(self, value: object, dialect: Dialect) -> str:
        bound = self.process_bind_param(value, dialect)
        return "NULL" if bound is None else f"'{bound}'" if isinstance(bound, str) else str(bound)

    def process_result_value(self, value: object, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            if value != value.to_integral_value():
                raise ValueError(f"base units column holds a fraction: {value}")
            return int(value)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return int(value)
        raise TypeError(f"unexpected base units value from the database: {value!r}")

    @property
    def python_type(self) -> type[int]:
        return int


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime that always comes back in UTC.

    PostgreSQL keeps timestamptz; SQLite has no time zones, so the value is stored as naive UTC and
    UTC is re-attached on load. Naive datetimes are refused on the way in: whether they mean local
    time or UTC cannot be known, and guessing wrong shifts expiries by hours.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, not {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: pass a timezone-aware one, e.g. datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @property
    def python_type(self) -> type[datetime]:
        return datetime


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC: the default for every timestamp column."""
    return datetime.now(UTC)
