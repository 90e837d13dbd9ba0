"""Payouts and refunds: payouts (what a merchant asked to send from its payout wallet, a refund with
its payment_id, sealed by the API and,
above `payouts.approval_above`, approved by the operator), sweeps.payout_id (the transaction
sending one) and sweeps.fee_base_units (what a done transaction paid for gas, for the ledger).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op
from ctrip_core.db.types import BaseUnits, UTCDateTime

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = "status IN ('awaiting_approval', 'pending', 'submitted', 'succeeded', 'failed')"


def upgrade() -> None:
    op.create_table(
        "payouts",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("chain", sa.String(64), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("token_address", sa.String(42), nullable=True),
        sa.Column("address", sa.String(42), nullable=False),
        sa.Column("amount_base_units", BaseUnits(), nullable=False),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("payment_id", sa.String(64), nullable=True),
        sa.Column("batch_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("authorization", sa.Text(), nullable=False),
        sa.Column("approval", sa.String(200), nullable=True),
        sa.Column("sweep_id", sa.String(64), nullable=True),
        sa.Column("sent_as", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(STATUSES, name=op.f("ck_payouts_status")),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], name="fk_payouts_merchant_id_merchants",
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name="pk_payouts"),
    )
    op.create_index("ix_payouts_chain_status", "payouts", ["chain", "status"])
    op.create_index("ix_payouts_merchant_id_created_at", "payouts", ["merchant_id", "created_at"])
    op.create_index("ix_payouts_payment_id", "payouts", ["payment_id"])
    op.create_index("ix_payouts_batch_id", "payouts", ["batch_id"])
    with op.batch_alter_table("sweeps") as batch:
        batch.add_column(sa.Column("payout_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("fee_base_units", BaseUnits(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sweeps") as batch:
        batch.drop_column("fee_base_units")
        batch.drop_column("payout_id")
    op.drop_index("ix_payouts_batch_id", table_name="payouts")
    op.drop_index("ix_payouts_payment_id", table_name="payouts")
    op.drop_index("ix_payouts_merchant_id_created_at", table_name="payouts")
    op.drop_index("ix_payouts_chain_status", table_name="payouts")
    op.drop_table("payouts")
