"""Watching: chain_cursors.last_block_time, the timestamp of the last block the scanner processed.

Wall-clock expiry waits for it: a pending payment expires only once the scanner has passed a
block whose timestamp is at or after `expires_at` (null until the scanner next advances).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ctrip_core.db.types import UTCDateTime

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("chain_cursors", sa.Column("last_block_time", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chain_cursors") as batch:
        batch.drop_column("last_block_time")
