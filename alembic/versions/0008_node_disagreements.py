"""RPC quorum: node_disagreements, the node URLs that answered a transfer's receipt otherwise.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

from ctrip_core.db.types import UTCDateTime

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "node_disagreements",
        sa.Column("chain", sa.String(length=64), primary_key=True),
        sa.Column("node", sa.String(length=255), primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_tx_hash", sa.String(length=66), nullable=False),
        sa.Column("last_detail", sa.String(length=500), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("node_disagreements")
