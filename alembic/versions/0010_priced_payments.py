"""Priced payments (ctrip_core/pricing): the price and the rate locked at creation, on payments.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: ctrip_core.db.types.BaseUnits (see 0001).
BASE_UNITS = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")
COLUMNS = ("price_base_units", "price_currency", "rate_value", "rate_source", "rate_at")


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("price_base_units", BASE_UNITS, nullable=True))
        batch.add_column(sa.Column("price_currency", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("rate_value", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("rate_source", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("rate_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        for column in COLUMNS:
            batch.drop_column(column)
