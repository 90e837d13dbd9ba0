"""Inserts a new payment together with its deposit address, atomically, in as few round trips as the
database allows: one data-modifying CTE on PostgreSQL (a single statement, so atomic even on an
autocommit connection), two INSERTs in the caller's transaction on SQLite (which has no INSERT in
WITH). This is the API's hottest write, so the statements are Core, built once with named bind
parameters (no ORM unit of work, no per-call statement building) and on PostgreSQL sent as a
`HotStatement` (db/hot_statements.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ctrip_core.db.hot_statements import HotStatement
from ctrip_core.db.models import DepositAddress, Payment

_ADDRESS_COLUMNS = ("derivation_index", "address", "created_at")
#: ORM attribute name → column name (`metadata_` is stored as `metadata`).
_PAYMENT_COLUMNS = {attr.key: attr.columns[0].name for attr in Payment.__mapper__.column_attrs}

_INSERT_ADDRESS = insert(DepositAddress.__table__).values(
    {name: bindparam(f"a_{name}") for name in _ADDRESS_COLUMNS})
_INSERT_PAYMENT = insert(Payment.__table__).values(
    {column: bindparam(f"p_{column}") for column in _PAYMENT_COLUMNS.values()})
_INSERT_BOTH = HotStatement(_INSERT_PAYMENT.add_cte(_INSERT_ADDRESS.cte("new_address")))


async def insert_payment(conn: AsyncConnection, payment: dict[str, Any]) -> None:
    """Insert the deposit address (payment's derivation_index and address) and the payment row.

    `payment` holds every Payment attribute by its ORM name; created_at doubles as the address's.
    """
    params = {f"a_{name}": payment[name] for name in _ADDRESS_COLUMNS}
    params.update({f"p_{column}": payment[key] for key, column in _PAYMENT_COLUMNS.items()})
    if conn.dialect.name == "postgresql":
        await _INSERT_BOTH.fetch(conn, params)
        return
    await conn.execute(_INSERT_ADDRESS, params)
    await conn.execute(_INSERT_PAYMENT, params)
