"""Payment links: payment_links (a merchant's reusable link: the payment request each visit of
`/pay/links/{id}` makes a new payment of, while active, and how many it made). A payment made from
one records the link in its own metadata (`payment_link`): the payments table is unchanged.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from ctrip_core.db.types import UTCDateTime

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payment_links",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("chain", sa.String(64), nullable=True),
        sa.Column("asset", sa.String(32), nullable=True),
        sa.Column("amount", sa.String(100), nullable=True),
        sa.Column("price_amount", sa.String(100), nullable=True),
        sa.Column("price_currency", sa.String(8), nullable=True),
        sa.Column("expires_in", sa.Integer(), nullable=True),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("payments_created", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], name="fk_payment_links_merchant_id_merchants",
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name="pk_payment_links"),
    )
    op.create_index(op.f("ix_payment_links_merchant_id_created_at"), "payment_links", ["merchant_id", "created_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_payment_links_merchant_id_created_at"), table_name="payment_links")
    op.drop_table("payment_links")
