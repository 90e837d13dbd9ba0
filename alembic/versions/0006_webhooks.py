"""Webhooks: no schema change.

The slot was kept for the webhook worker's changes (issue 14): per-endpoint send lanes and the
purge of expired idempotency keys needed none (the purge deletes by `idempotency_keys.created_at`,
a table kept to about a day of keys). It stays so that the chain 0005 -> 0006 -> 0007 holds.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
