"""Per-merchant treasuries: merchant_treasuries (address and the operator's signed authorization of
it, per merchant and chain), and sweeps.merchant_id (whose treasury a deposit sweep pays).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from ctrip_core.db.types import UTCDateTime

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "merchant_treasuries",
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("chain", sa.String(64), nullable=False),
        sa.Column("address", sa.String(42), nullable=False),
        sa.Column("authorization", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], name="fk_merchant_treasuries_merchant_id_merchants",
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("merchant_id", "chain", name="pk_merchant_treasuries"),
    )
    with op.batch_alter_table("sweeps") as batch:
        batch.add_column(sa.Column("merchant_id", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sweeps") as batch:
        batch.drop_column("merchant_id")
    op.drop_table("merchant_treasuries")
