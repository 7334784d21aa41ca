"""The initial schema: routes, payments, refunds, the audit log, idempotency keys, API keys."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# A migration is a frozen record: it spells out its types and names instead of importing tables.py,
# which moves on with later migrations.
_TIMESTAMP = sa.DateTime(timezone=True)
_LOG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "seller_routes",
        sa.Column("shop_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("merchant_account", sa.String(128), nullable=False),
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("shop_id", "provider", name="pk_seller_routes"),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("shop_id", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("refund_reserved_minor", sa.BigInteger(), nullable=False),
        sa.Column("merchant_account", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("provider_status", sa.String(255)),
        sa.Column("external_id", sa.String(255)),
        sa.Column("phone", sa.String(32)),
        sa.Column("payment_link", sa.Text()),
        sa.Column("expires_at", _TIMESTAMP),
        sa.Column("idempotency_key", sa.String(300)),
        sa.Column("error_code", sa.String(100)),
        sa.Column("error_message", sa.Text()),
        sa.Column("version", sa.Integer(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_payments"),
        sa.UniqueConstraint("idempotency_key", name="uq_payments_idempotency_key"),
        sa.UniqueConstraint("provider", "external_id", name="uq_payments_provider_external_id"),
        sa.CheckConstraint(
            "amount_minor >= 0 AND refunded_minor >= 0 AND refund_reserved_minor >= 0"
            " AND refunded_minor + refund_reserved_minor <= amount_minor",
            name="ck_payments_refunds_within_amount",
        ),
    )
    op.create_index("ix_payments_shop_id_created_at", "payments", ["shop_id", "created_at"])
    op.create_index("ix_payments_status", "payments", ["status"])
    op.create_table(
        "refunds",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("payment_id", sa.String(64), nullable=False),
        sa.Column("shop_id", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(255)),
        sa.Column("idempotency_key", sa.String(300)),
        sa.Column("error_code", sa.String(100)),
        sa.Column("error_message", sa.Text()),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_refunds"),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name="fk_refunds_payment_id_payments"),
        sa.UniqueConstraint("idempotency_key", name="uq_refunds_idempotency_key"),
        sa.CheckConstraint("amount_minor > 0", name="ck_refunds_amount_positive"),
    )
    op.create_index("ix_refunds_payment_id", "refunds", ["payment_id"])
    op.create_table(
        "payment_log",
        sa.Column("id", _LOG_ID, autoincrement=True, nullable=False),
        sa.Column("shop_id", sa.BigInteger()),
        sa.Column("organization_bin", sa.String(128)),
        sa.Column("operation_type", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(255)),
        sa.Column("amount", sa.BigInteger()),
        sa.Column("currency", sa.String(3)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_message", sa.Text()),
        sa.Column("provider", sa.String(32)),
        sa.Column("payment_id", sa.String(64)),
        sa.Column("actor", sa.String(255)),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_payment_log"),
    )
    op.create_index("ix_payment_log_shop_id_id", "payment_log", ["shop_id", "id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("response_status", sa.Integer()),
        sa.Column("response_body", sa.LargeBinary()),
        *_timestamps(),
        sa.PrimaryKeyConstraint("key", name="pk_idempotency_keys"),
        sa.CheckConstraint("state IN ('started', 'done')", name="ck_idempotency_keys_known_state"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("revoked_at", _TIMESTAMP),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_payment_log_shop_id_id", table_name="payment_log")
    op.drop_table("payment_log")
    op.drop_index("ix_refunds_payment_id", table_name="refunds")
    op.drop_table("refunds")
    op.drop_index("ix_payments_status", table_name="payments")
    op.drop_index("ix_payments_shop_id_created_at", table_name="payments")
    op.drop_table("payments")
    op.drop_table("seller_routes")
