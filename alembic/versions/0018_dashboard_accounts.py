"""Dashboard accounts: users' second factor and invitations, keys' makers. dashboard_users gains the
TOTP secret (only encrypted with `secret_key`, as webhook secrets are), when it was turned on, and
the last time step accepted (a code is good once); and a one-time setup link (only its sha256,
with its expiry) for a user an owner invited from the dashboard, who sets a password with it.
api_keys gains who made a key from the dashboard (`created_by`), so removing a user can show the
keys they leave behind.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from ctrip_core.db.types import UTCDateTime

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dashboard_users") as table:
        table.add_column(sa.Column("totp_secret_ciphertext", sa.Text(), nullable=True))
        table.add_column(sa.Column("totp_enabled_at", UTCDateTime(), nullable=True))
        table.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        table.add_column(sa.Column("setup_token_hash", sa.String(64), nullable=True))
        table.add_column(sa.Column("setup_expires_at", UTCDateTime(), nullable=True))
        table.create_unique_constraint(op.f("uq_dashboard_users_setup_token_hash"), ["setup_token_hash"])
    with op.batch_alter_table("api_keys") as table:
        table.add_column(sa.Column("created_by", sa.String(64), nullable=True))
        table.create_foreign_key("fk_api_keys_created_by_dashboard_users", "dashboard_users", ["created_by"], ["id"],
                                 ondelete="SET NULL")
    op.create_index(op.f("ix_api_keys_created_by"), "api_keys", ["created_by"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_api_keys_created_by"), table_name="api_keys")
    with op.batch_alter_table("api_keys") as table:
        table.drop_constraint("fk_api_keys_created_by_dashboard_users", type_="foreignkey")
        table.drop_column("created_by")
    with op.batch_alter_table("dashboard_users") as table:
        table.drop_constraint(op.f("uq_dashboard_users_setup_token_hash"), type_="unique")
        for column in ("setup_expires_at", "setup_token_hash", "totp_last_step", "totp_enabled_at",
                       "totp_secret_ciphertext"):
            table.drop_column(column)
