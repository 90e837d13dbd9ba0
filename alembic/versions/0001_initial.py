"""Initial schema: merchants, payments, transfers, outbox, webhooks, sweeps.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Column types are spelled out as plain SQLAlchemy types rather than imported from ctrip_core, so
this migration keeps creating the same schema however the application"s types evolve.
On PostgreSQL the deposit-address index comes from a sequence; on SQLite from the
allocation_counters row seeded here (see ctrip_core.db.allocation).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: ctrip_core.db.types.BaseUnits: exact uint256 (NUMERIC on PostgreSQL, zero-padded text on SQLite).
BASE_UNITS = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")
#: ctrip_core.db.types.UTCDateTime.
TIMESTAMP = sa.DateTime(timezone=True)
#: ctrip_core.db.types.BigIntPK: SQLite autoincrements only an INTEGER primary key.
BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

DEPOSIT_ADDRESS_INDEX_SEQ = "deposit_address_index_seq"
#: ctrip_core.db.models.DERIVATION_COUNTER; next_value is what the next allocation returns.
DERIVATION_COUNTER = "deposit_address_index"


def is_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    if is_postgresql():
        op.execute(sa.schema.CreateSequence(sa.Sequence(DEPOSIT_ADDRESS_INDEX_SEQ, start=1)))
    op.create_table(
        "allocation_counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("next_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_allocation_counters")),
    )
    counters = sa.table(
        "allocation_counters", sa.column("name", sa.String), sa.column("next_value", sa.BigInteger)
    )
    op.bulk_insert(counters, [{"name": DERIVATION_COUNTER, "next_value": 1}])
    op.create_table(
        "chain_cursors",
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("last_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_chain_cursors")),
    )
    op.create_table(
        "deposit_addresses",
        sa.Column("derivation_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("derivation_index", name=op.f("pk_deposit_addresses")),
        sa.UniqueConstraint("address", name=op.f("uq_deposit_addresses_address")),
    )
    op.create_table(
        "merchants",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchants")),
    )
    op.create_table(
        "recent_blocks",
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.Column("parent_hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("chain", "number", name=op.f("pk_recent_blocks")),
    )
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("derivation_index", sa.BigInteger(), nullable=True),
        sa.Column("from_address", sa.String(length=42), nullable=False),
        sa.Column("to_address", sa.String(length=42), nullable=False),
        sa.Column("token_address", sa.String(length=42), nullable=True),
        sa.Column("amount_base_units", BASE_UNITS, nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("raw_tx", sa.Text(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("gas_limit", BASE_UNITS, nullable=True),
        sa.Column("max_fee_per_gas", BASE_UNITS, nullable=True),
        sa.Column("max_priority_fee_per_gas", BASE_UNITS, nullable=True),
        sa.Column("gas_price", BASE_UNITS, nullable=True),
        sa.Column("submitted_at", TIMESTAMP, nullable=True),
        sa.Column("confirmed_block", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("kind IN ('native', 'token', 'gas_topup')", name=op.f("ck_sweeps_kind")),
        sa.CheckConstraint("state IN ('pending', 'submitted', 'done', 'failed')", name=op.f("ck_sweeps_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweeps")),
        sa.UniqueConstraint("chain", "from_address", "nonce", name=op.f("uq_sweeps_chain_from_address_nonce")),
    )
    op.create_index(op.f("ix_sweeps_chain_state"), "sweeps", ["chain", "state"], unique=False)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("key_prefix", sa.String(length=32), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], name=op.f("fk_api_keys_merchant_id_merchants"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_merchant_id"), "api_keys", ["merchant_id"], unique=False)
    op.create_table(
        "idempotency_keys",
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], name=op.f("fk_idempotency_keys_merchant_id_merchants"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("merchant_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(length=32), nullable=False),
        sa.Column("token_address", sa.String(length=42), nullable=True),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("amount_base_units", BASE_UNITS, nullable=False),
        sa.Column("amount_received_base_units", BASE_UNITS, nullable=False),
        sa.Column("derivation_index", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("order_id", sa.String(length=200), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("confirmations_required", sa.Integer(), nullable=False),
        sa.Column("overpaid", sa.Boolean(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("redirect_url", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("detected_at", TIMESTAMP, nullable=True),
        sa.Column("confirmed_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint("status IN ('pending', 'detected', 'confirmed', 'underpaid', 'expired', 'canceled')", name=op.f("ck_payments_status")),
        sa.ForeignKeyConstraint(["derivation_index"], ["deposit_addresses.derivation_index"], name=op.f("fk_payments_derivation_index_deposit_addresses"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], name=op.f("fk_payments_merchant_id_merchants"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("derivation_index", name=op.f("uq_payments_derivation_index")),
    )
    op.create_index(op.f("ix_payments_address"), "payments", ["address"], unique=False)
    op.create_index(op.f("ix_payments_chain_status"), "payments", ["chain", "status"], unique=False)
    op.create_index(op.f("ix_payments_merchant_id_created_at_id"), "payments", ["merchant_id", "created_at", "id"], unique=False)
    op.create_index(op.f("ix_payments_merchant_id_order_id"), "payments", ["merchant_id", "order_id"], unique=False)
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("previous_secret_ciphertext", sa.Text(), nullable=True),
        sa.Column("previous_secret_expires_at", TIMESTAMP, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failing_since", TIMESTAMP, nullable=True),
        sa.Column("disabled_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("status IN ('enabled', 'disabled')", name=op.f("ck_webhook_endpoints_status")),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], name=op.f("fk_webhook_endpoints_merchant_id_merchants"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index(op.f("ix_webhook_endpoints_merchant_id"), "webhook_endpoints", ["merchant_id"], unique=False)
    op.create_table(
        "events",
        sa.Column("seq", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=True),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("dispatched_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], name=op.f("fk_events_merchant_id_merchants"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_events_payment_id_payments"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
        sa.UniqueConstraint("id", name=op.f("uq_events_id")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_events_dispatched_at"), "events", ["dispatched_at"], unique=False)
    op.create_index(op.f("ix_events_payment_id_seq"), "events", ["payment_id", "seq"], unique=False)
    op.create_table(
        "transfers",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.String(length=64), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("from_address", sa.String(length=42), nullable=False),
        sa.Column("to_address", sa.String(length=42), nullable=False),
        sa.Column("asset", sa.String(length=32), nullable=False),
        sa.Column("token_address", sa.String(length=42), nullable=True),
        sa.Column("amount_base_units", BASE_UNITS, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("sweep_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("state IN ('seen', 'confirmed', 'orphaned')", name=op.f("ck_transfers_state")),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_transfers_payment_id_payments"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["sweep_id"], ["sweeps.id"], name=op.f("fk_transfers_sweep_id_sweeps"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfers")),
        sa.UniqueConstraint("chain", "tx_hash", "log_index", name=op.f("uq_transfers_chain_tx_hash_log_index")),
    )
    op.create_index(op.f("ix_transfers_chain_block_number"), "transfers", ["chain", "block_number"], unique=False)
    op.create_index(op.f("ix_transfers_payment_id"), "transfers", ["payment_id"], unique=False)
    op.create_index(op.f("ix_transfers_sweep_id"), "transfers", ["sweep_id"], unique=False)
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("last_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("state IN ('pending', 'succeeded', 'failed')", name=op.f("ck_deliveries_state")),
        sa.ForeignKeyConstraint(["endpoint_id"], ["webhook_endpoints.id"], name=op.f("fk_deliveries_endpoint_id_webhook_endpoints"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_deliveries_event_id_events"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
    )
    op.create_index(op.f("ix_deliveries_endpoint_id_state_next_attempt_at"), "deliveries", ["endpoint_id", "state", "next_attempt_at"], unique=False)
    op.create_index(op.f("ix_deliveries_event_id"), "deliveries", ["event_id"], unique=False)
    op.create_table(
        "delivery_attempts",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], name=op.f("fk_delivery_attempts_delivery_id_deliveries"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
    )
    op.create_index(op.f("ix_delivery_attempts_delivery_id"), "delivery_attempts", ["delivery_id"], unique=False)


def downgrade() -> None:
    op.drop_table("delivery_attempts")
    op.drop_table("deliveries")
    op.drop_table("transfers")
    op.drop_table("events")
    op.drop_table("webhook_endpoints")
    op.drop_table("payments")
    op.drop_table("idempotency_keys")
    op.drop_table("api_keys")
    op.drop_table("sweeps")
    op.drop_table("recent_blocks")
    op.drop_table("merchants")
    op.drop_table("deposit_addresses")
    op.drop_table("chain_cursors")
    op.drop_table("allocation_counters")
    if is_postgresql():
        op.execute(sa.schema.DropSequence(sa.Sequence(DEPOSIT_ADDRESS_INDEX_SEQ)))
