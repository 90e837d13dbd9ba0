"""Sweeps: every signed transaction's hash kept; the block a done sweep was mined in; a failed sweep frees its nonce.

- `sweep_transactions`: one row per transaction the sweeper signed (each version of each sweep, with
  what it moves and pays), written before it is broadcast; the scanner skips transfers made by
  them. Filled here from the sweeps' current and replaced hashes (details of old versions unknown).
- `sweeps.confirmed_block_hash`: only a different block hash at the sweep's height proves a reorg
  removed a done sweep (a missing receipt is not known yet).
- `(chain, from_address, nonce)` is unique among sweeps that are not failed: a sweep whose broadcast
  was refused (never mined) fails and the sweep planned after it may take its nonce.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "state <> 'failed'"
#: ctrip_core.db.types.BaseUnits, as 0001 spells it.
BASE_UNITS = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sweep_transactions",
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("sweep_id", sa.String(length=64), nullable=False),
        sa.Column("amount_base_units", BASE_UNITS, nullable=True),
        sa.Column("raw_tx", sa.Text(), nullable=True),
        sa.Column("max_fee_per_gas", BASE_UNITS, nullable=True),
        sa.Column("max_priority_fee_per_gas", BASE_UNITS, nullable=True),
        sa.Column("gas_price", BASE_UNITS, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["sweep_id"], ["sweeps.id"], name=op.f("fk_sweep_transactions_sweep_id_sweeps"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("tx_hash", name=op.f("pk_sweep_transactions")),
    )
    op.create_index(op.f("ix_sweep_transactions_sweep_id"), "sweep_transactions", ["sweep_id"], unique=False)
    with op.batch_alter_table("sweeps") as batch:
        batch.add_column(sa.Column("confirmed_block_hash", sa.String(length=66), nullable=True))
        batch.drop_constraint("uq_sweeps_chain_from_address_nonce", type_="unique")
    op.create_index("uq_sweeps_chain_from_address_nonce", "sweeps", ["chain", "from_address", "nonce"], unique=True,
                    postgresql_where=sa.text(LIVE), sqlite_where=sa.text(LIVE))
    _fill_sweep_transactions()


def _fill_sweep_transactions() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, chain, tx_hash, replaced_tx_hashes, created_at FROM sweeps "
                                "WHERE tx_hash IS NOT NULL")).all()
    seen: set[str] = set()
    values = []
    for sweep_id, chain, tx_hash, replaced, created in rows:
        replaced = json.loads(replaced) if isinstance(replaced, str) else (replaced or [])
        for h in [tx_hash, *replaced]:
            if h not in seen:
                seen.add(h)
                values.append({"tx_hash": h, "chain": chain, "sweep_id": sweep_id, "created_at": created})
    if values:
        table = sa.table("sweep_transactions", sa.column("tx_hash"), sa.column("chain"), sa.column("sweep_id"),
                         sa.column("created_at"))
        bind.execute(table.insert(), values)


def downgrade() -> None:
    op.drop_index("uq_sweeps_chain_from_address_nonce", table_name="sweeps")
    with op.batch_alter_table("sweeps") as batch:
        batch.create_unique_constraint("uq_sweeps_chain_from_address_nonce", ["chain", "from_address", "nonce"])
        batch.drop_column("confirmed_block_hash")
    op.drop_index(op.f("ix_sweep_transactions_sweep_id"), table_name="sweep_transactions")
    op.drop_table("sweep_transactions")
