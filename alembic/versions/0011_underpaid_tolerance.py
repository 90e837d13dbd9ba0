"""payments.underpaid_tolerance: how far short each payment may be paid and still be confirmed,
decided at its creation (payments.tolerance_base_units; 0 for every existing payment).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: ctrip_core.db.types.BaseUnits (see 0001).
BASE_UNITS = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("tolerance_base_units", BASE_UNITS, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("tolerance_base_units")
