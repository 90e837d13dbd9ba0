"""Dashboard indexes: transfers by tx_hash alone, for the dashboard's search by transaction hash (the
unique (chain, tx_hash, log_index) key starts with the chain, which the search does not know). Its other
searches and the payments list's filters are served by the indexes payments already has (EXPLAIN ANALYZE
over 1,000,000 payments, bench/dashboard.py).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_transfers_tx_hash"), "transfers", ["tx_hash"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_transfers_tx_hash"), table_name="transfers")
