"""Inserts a new payment together with its deposit address, atomically, in as few round trips as the
database allows: one data-modifying CTE on PostgreSQL (a single statement, so atomic even on an
autocommit connection), two INSERTs in the caller's transaction on SQLite (which has no INSERT in
WITH). This is the API's hottest write, so the statements are Core, built once with named bind
parameters (no ORM unit of work, no per-call statement building) and on PostgreSQL sent as a
`HotStatement` (db/hot_statements.py). Through the API's `HotPool`, concurrent creates of one
process share a statement (ctrip_core/coalesce.py): under load one carries several payments.

Which function runs is the payment writer's choice, made once per process (db/payment_writer.py);
nothing here asks which database it is talking to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ctrip_core.coalesce import Coalescer
from ctrip_core.db.hot_pool import HotPool
from ctrip_core.db.hot_statements import HotStatement
from ctrip_core.db.models import DepositAddress, Payment


@dataclass(slots=True)
class NewPayment:
    """A payment as it is inserted: every column of `Payment`, by its ORM attribute name.

    What the payment writer writes and the API renders (payment_view.render_new) straight away:
    building an ORM Payment nobody uses cost about 50 µs of a create's CPU. Not an ORM object;
    load the `Payment` by id to change it. (tests/db/test_hot_statements.py checks that the fields
    are exactly Payment's columns.)
    """

    id: str
    merchant_id: str
    status: str
    chain: str
    chain_id: int
    asset: str
    token_address: str | None
    decimals: int
    amount_base_units: int
    amount_received_base_units: int
    derivation_index: int
    address: str
    order_id: str | None
    metadata_: dict[str, Any] | None
    confirmations_required: int
    overpaid: bool
    late: bool
    redirect_url: str | None
    price_base_units: int | None
    price_currency: str | None
    rate_value: str | None
    rate_source: str | None
    rate_at: datetime | None
    tolerance_base_units: int
    options: list[dict[str, Any]] | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    detected_at: datetime | None
    confirmed_at: datetime | None


_ADDRESS_COLUMNS = ("derivation_index", "address", "created_at")
#: ORM attribute name → column name (`metadata_` is stored as `metadata`).
PAYMENT_COLUMNS = {attr.key: attr.columns[0].name for attr in Payment.__mapper__.column_attrs}
#: Most payments one coalesced statement carries (33 parameters each; PostgreSQL allows 32,767).
MAX_ROWS = 32


def _rows(table, columns, prefix: str, n: int):
    """INSERT of n rows with named, typed bind parameters `{prefix}{row}_{column}`."""
    return insert(table).values([{c: bindparam(f"{prefix}{i}_{c}", type_=table.c[c].type) for c in columns}
                                 for i in range(n)])


@lru_cache(maxsize=None)
def _insert_addresses(n: int):
    return _rows(DepositAddress.__table__, _ADDRESS_COLUMNS, "a", n)


@lru_cache(maxsize=None)
def _insert_payments(n: int):
    return _rows(Payment.__table__, tuple(PAYMENT_COLUMNS.values()), "p", n)


@lru_cache(maxsize=MAX_ROWS)
def _insert_both(n: int) -> HotStatement:
    """n payments and their addresses in one statement (PostgreSQL: INSERT in a WITH clause)."""
    return HotStatement(_insert_payments(n).add_cte(_insert_addresses(n).cte("new_address")))


def _params(payments: Sequence[NewPayment]) -> dict[str, Any]:
    """Bind values of the payments and their addresses (a payment's created_at is its address's too)."""
    params: dict[str, Any] = {}
    for i, payment in enumerate(payments):
        params.update({f"a{i}_{name}": getattr(payment, name) for name in _ADDRESS_COLUMNS})
        params.update({f"p{i}_{column}": getattr(payment, key) for key, column in PAYMENT_COLUMNS.items()})
    return params


async def insert_coalesced(pool: HotPool, payment: NewPayment) -> None:
    """PostgreSQL, outside any transaction: one statement on the `HotPool`, shared with the inserts
    other requests of this process make meanwhile (ctrip_core/coalesce.py)."""
    await _coalescer(pool).submit(payment)


async def insert_in_one_statement(conn: AsyncConnection, payment: NewPayment) -> None:
    """PostgreSQL, in `conn`'s transaction: the address and the payment in one statement."""
    await _insert_both(1).fetch(conn, _params([payment]))


async def insert_in_two_statements(conn: AsyncConnection, payment: NewPayment) -> None:
    """SQLite (no INSERT in WITH), in `conn`'s transaction: the address, then the payment."""
    params = _params([payment])
    await conn.execute(_insert_addresses(1), params)
    await conn.execute(_insert_payments(1), params)


_COALESCERS: WeakKeyDictionary[HotPool, Coalescer[NewPayment]] = WeakKeyDictionary()


def _coalescer(pool: HotPool) -> Coalescer[NewPayment]:
    if pool not in _COALESCERS:
        _COALESCERS[pool] = Coalescer(lambda payments: _insert_batch(pool, payments), MAX_ROWS)
    return _COALESCERS[pool]


async def _insert_batch(pool: HotPool, payments: Sequence[NewPayment]) -> list[Exception | None]:
    """All in one statement; if that fails, each alone, so one bad row fails only its own request.

    One statement in autocommit is atomic: after a failure none of its rows exists, so inserting
    them again one by one cannot duplicate any (and unique ids, addresses and indexes would refuse it).
    """
    try:
        await _insert_both(len(payments)).fetch(pool, _params(payments))
        return [None] * len(payments)
    except Exception as exc:
        if len(payments) == 1:
            return [exc]
    outcomes: list[Exception | None] = []
    for payment in payments:
        try:
            await _insert_both(1).fetch(pool, _params([payment]))
            outcomes.append(None)
        except Exception as exc:  # noqa: BLE001 - that request's own error, raised in its handler
            outcomes.append(exc)
    return outcomes
