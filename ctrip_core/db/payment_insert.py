"""Inserts a new payment together with its deposit address, atomically, in as few round trips as the
database allows: one data-modifying CTE on PostgreSQL (a single statement, so atomic even on an
autocommit connection), two INSERTs in the caller's transaction on SQLite (which has no INSERT in
WITH). This is the API's hottest write, so the statements are Core, built once with named bind
parameters (no ORM unit of work, no per-call statement building) and on PostgreSQL sent as a
`HotStatement` (db/hot_statements.py). Through the API's `HotPool`, concurrent creates of one
process share a statement (ctrip_core/coalesce.py): under load one carries several payments.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ctrip_core.coalesce import Coalescer
from ctrip_core.db.hot_pool import HotPool
from ctrip_core.db.hot_statements import HotStatement
from ctrip_core.db.models import DepositAddress, Payment

_ADDRESS_COLUMNS = ("derivation_index", "address", "created_at")
#: ORM attribute name → column name (`metadata_` is stored as `metadata`).
_PAYMENT_COLUMNS = {attr.key: attr.columns[0].name for attr in Payment.__mapper__.column_attrs}
#: Most payments one coalesced statement carries (26 parameters each; PostgreSQL allows 32,767).
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
    return _rows(Payment.__table__, tuple(_PAYMENT_COLUMNS.values()), "p", n)


@lru_cache(maxsize=MAX_ROWS)
def _insert_both(n: int) -> HotStatement:
    """n payments and their addresses in one statement (PostgreSQL: INSERT in a WITH clause)."""
    return HotStatement(_insert_payments(n).add_cte(_insert_addresses(n).cte("new_address")))


def _params(payments: Sequence[dict[str, Any]]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for i, payment in enumerate(payments):
        params.update({f"a{i}_{name}": payment[name] for name in _ADDRESS_COLUMNS})
        params.update({f"p{i}_{column}": payment[key] for key, column in _PAYMENT_COLUMNS.items()})
    return params


async def insert_payment(conn: AsyncConnection | HotPool, payment: dict[str, Any]) -> None:
    """Insert the deposit address (payment's derivation_index and address) and the payment row.

    `payment` holds every Payment attribute by its ORM name; created_at doubles as the address's.
    On a `HotPool` (the API on PostgreSQL, `runtime.connect()`) the insert is coalesced with the
    ones other requests of this process make meanwhile (ctrip_core/coalesce.py).
    """
    if isinstance(conn, HotPool):
        await _coalescer(conn).submit(payment)
    elif conn.dialect.name == "postgresql":
        await _insert_both(1).fetch(conn, _params([payment]))
    else:
        params = _params([payment])
        await conn.execute(_insert_addresses(1), params)
        await conn.execute(_insert_payments(1), params)


_COALESCERS: WeakKeyDictionary[HotPool, Coalescer[dict[str, Any]]] = WeakKeyDictionary()


def _coalescer(pool: HotPool) -> Coalescer[dict[str, Any]]:
    if pool not in _COALESCERS:
        _COALESCERS[pool] = Coalescer(lambda payments: _insert_batch(pool, payments), MAX_ROWS)
    return _COALESCERS[pool]


async def _insert_batch(pool: HotPool, payments: Sequence[dict[str, Any]]) -> list[Exception | None]:
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
