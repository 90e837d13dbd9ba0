"""Idempotency keys: drop stored replays that hold a webhook secret in clear.

Replays of webhook-endpoint creates and rotations are now stored sealed with `secret_key`
(api/idempotency.py); rows stored before kept the `whsec_` secret in clear. They are deleted: a
retry of such a request within its 24 h then creates a new endpoint instead of replaying.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM idempotency_keys WHERE response_body LIKE '%whsec%'")


def downgrade() -> None:
    pass  # the deleted rows are not restored: they held secrets in clear
