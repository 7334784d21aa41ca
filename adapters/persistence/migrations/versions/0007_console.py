"""The operator console: a refund's reason (on the refund and its audit entry), the moment a payment
succeeded (the day a settlement report counts it on), and the payment's audit entries by payment."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_console"
down_revision = "0006_merge_heads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refunds") as batch:
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
    with op.batch_alter_table("payment_log") as batch:
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_payment_log_payment_id", "payment_log", ["payment_id"])
    # Payments paid before this version: their success is the audit entry that moved them there,
    # else the last status observation (the closest the row knows).
    op.execute(
        "UPDATE payments SET succeeded_at = coalesce("
        "(SELECT min(created_at) FROM payment_log WHERE payment_log.payment_id = payments.id"
        " AND payment_log.status = 'success' AND payment_log.operation_type IN ('status_change', 'capture', 'recover')),"
        " status_observed_at, updated_at)"
        " WHERE status IN ('succeeded', 'partially_refunded', 'refunded')"
    )


def downgrade() -> None:
    op.drop_index("ix_payment_log_payment_id", table_name="payment_log")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("succeeded_at")
    with op.batch_alter_table("payment_log") as batch:
        batch.drop_column("reason")
    with op.batch_alter_table("refunds") as batch:
        batch.drop_column("reason")
