"""The poller's checks, the event outbox, and outgoing webhooks (subscriptions, deliveries, attempts)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_polling_events_webhooks"
down_revision = "0001"
branch_labels = None
depends_on = None

# A frozen record: types and names spelled out rather than imported from tables.py.
_TIMESTAMP = sa.DateTime(timezone=True)
_ATTEMPT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "payment_checks",
        sa.Column("payment_id", sa.String(64), nullable=False),
        sa.Column("next_check_at", _TIMESTAMP, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("leased_until", _TIMESTAMP),
        sa.PrimaryKeyConstraint("payment_id", name="pk_payment_checks"),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name="fk_payment_checks_payment_id_payments"),
    )
    op.create_index("ix_payment_checks_next_check_at", "payment_checks", ["next_check_at"])
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("payment_id", sa.String(64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("occurred_at", _TIMESTAMP, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("fanned_out_at", _TIMESTAMP),
        sa.Column("published_at", _TIMESTAMP),
        sa.Column("publish_leased_until", _TIMESTAMP),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_events"),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name="fk_outbox_events_payment_id_payments"),
        sa.UniqueConstraint("payment_id", "sequence", name="uq_outbox_events_payment_id_sequence"),
    )
    op.create_index("ix_outbox_events_fanned_out_at", "outbox_events", ["fanned_out_at"])
    op.create_index("ix_outbox_events_published_at", "outbox_events", ["published_at"])
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("event_types", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_subscriptions"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("subscription_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payment_id", sa.String(64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TIMESTAMP, nullable=False),
        sa.Column("last_attempt_at", _TIMESTAMP),
        sa.Column("last_status_code", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.Column("delivered_at", _TIMESTAMP),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.ForeignKeyConstraint(
            ["subscription_id"], ["webhook_subscriptions.id"],
            name="fk_webhook_deliveries_subscription_id_webhook_subscriptions",
        ),
        sa.ForeignKeyConstraint(["event_id"], ["outbox_events.id"], name="fk_webhook_deliveries_event_id_outbox_events"),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_deliveries_subscription_id_event_id"),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'dead', 'cancelled')", name="ck_webhook_deliveries_known_status"
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_status_next_attempt_at", "webhook_deliveries", ["status", "next_attempt_at"]
    )
    op.create_index(
        "ix_webhook_deliveries_subscription_id_payment_id_sequence",
        "webhook_deliveries",
        ["subscription_id", "payment_id", "sequence"],
    )
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", _ATTEMPT_ID, autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.String(64), nullable=False),
        sa.Column("attempted_at", _TIMESTAMP, nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["webhook_deliveries.id"], name="fk_webhook_attempts_delivery_id_webhook_deliveries"
        ),
    )
    op.create_index("ix_webhook_attempts_delivery_id_id", "webhook_attempts", ["delivery_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_attempts_delivery_id_id", table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index("ix_webhook_deliveries_event_id", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_subscription_id_payment_id_sequence", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_status_next_attempt_at", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_subscriptions")
    op.drop_index("ix_outbox_events_published_at", table_name="outbox_events")
    op.drop_index("ix_outbox_events_fanned_out_at", table_name="outbox_events")
    op.drop_table("outbox_events")
    op.drop_index("ix_payment_checks_next_check_at", table_name="payment_checks")
    op.drop_table("payment_checks")
