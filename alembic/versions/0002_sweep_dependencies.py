"""Sweeps: a token sweep waits on its gas top-up; replaced (fee-bumped) transaction hashes are kept.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sweeps") as batch:
        batch.add_column(sa.Column("waits_for", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("replaced_tx_hashes", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("broadcast_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sweeps") as batch:
        batch.drop_column("broadcast_at")
        batch.drop_column("replaced_tx_hashes")
        batch.drop_column("waits_for")
