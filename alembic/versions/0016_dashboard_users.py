"""Dashboard users and sessions: dashboard_users (a merchant's people, by email, with a role, an
argon2id password hash and a lockout count), made by `ctrip merchant add-user`; dashboard_sessions
(a logged-in browser, by the sha256 of its cookie, with its CSRF token).

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
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("role IN ('owner', 'viewer')", name=op.f("ck_dashboard_users_role")),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], name="fk_dashboard_users_merchant_id_merchants",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_dashboard_users"),
        sa.UniqueConstraint("email", name=op.f("uq_dashboard_users_email")),
    )
    op.create_index(op.f("ix_dashboard_users_merchant_id"), "dashboard_users", ["merchant_id"], unique=False)
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["dashboard_users.id"], name="fk_dashboard_sessions_user_id_dashboard_users",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_dashboard_sessions"),
    )
    op.create_index(op.f("ix_dashboard_sessions_user_id"), "dashboard_sessions", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_dashboard_sessions_user_id"), table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
    op.drop_index(op.f("ix_dashboard_users_merchant_id"), table_name="dashboard_users")
    op.drop_table("dashboard_users")
