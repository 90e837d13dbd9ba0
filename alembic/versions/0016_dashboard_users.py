"""Dashboard users: dashboard_users (a merchant's people, by email, with a role and an argon2id
password hash), made by `ctrip merchant add-user`.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from ctrip_core.db.types import UTCDateTime

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_users",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("role IN ('owner', 'viewer')", name=op.f("ck_dashboard_users_role")),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], name="fk_dashboard_users_merchant_id_merchants",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_dashboard_users"),
        sa.UniqueConstraint("email", name=op.f("uq_dashboard_users_email")),
    )
    op.create_index(op.f("ix_dashboard_users_merchant_id"), "dashboard_users", ["merchant_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_dashboard_users_merchant_id"), table_name="dashboard_users")
    op.drop_table("dashboard_users")
