"""Reconcile: transfers.source, how a transfer was found.

`transaction` (a top-level transaction's value), `log` (a token's Transfer log), `trace` (native
coin sent by a contract, found in call traces), `reconcile` (found by the balance auditor). Rows
before this revision are `log` when they name a token, else `transaction`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCES = ("transaction", "log", "trace", "reconcile")


def upgrade() -> None:
    with op.batch_alter_table("transfers") as batch:
        batch.add_column(sa.Column("source", sa.String(length=16), server_default="transaction", nullable=False))
        batch.create_check_constraint(op.f("ck_transfers_source"), "source IN (%s)" % ", ".join(f"'{s}'" for s in SOURCES))
    op.execute("UPDATE transfers SET source = 'log' WHERE token_address IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("transfers") as batch:
        batch.drop_constraint(op.f("ck_transfers_source"), type_="check")
        batch.drop_column("source")
