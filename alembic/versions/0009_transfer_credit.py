"""What each transfer credits its payment (services/payments/equivalence.py): transfers.credited_base_units.

Null: the transfer does not count toward its payment (another asset, or misdirected to another
chain). Existing rows credit their whole amount where they were the payment's own asset on its own
chain, as the lifecycle rule counted them before.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: ctrip_core.db.types.BaseUnits (see 0001).
BASE_UNITS = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("transfers") as batch:
        batch.add_column(sa.Column("credited_base_units", BASE_UNITS, nullable=True))
    op.execute(
        "UPDATE transfers SET credited_base_units = amount_base_units WHERE EXISTS ("
        " SELECT 1 FROM payments WHERE payments.id = transfers.payment_id AND payments.chain = transfers.chain"
        " AND ((payments.token_address IS NULL AND transfers.token_address IS NULL)"
        "      OR payments.token_address = transfers.token_address))")


def downgrade() -> None:
    with op.batch_alter_table("transfers") as batch:
        batch.drop_column("credited_base_units")
