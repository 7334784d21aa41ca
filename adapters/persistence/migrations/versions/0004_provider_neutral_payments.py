"""Provider-neutral payments: order and customer ids, metadata, two-step capture, checkout details,
a default route per shop, and the provider webhook events already handled."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_provider_neutral"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("order_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("customer_id", sa.String(128), nullable=True))
        batch.add_column(sa.Column("metadata", sa.Text(), nullable=True))
        batch.add_column(sa.Column("return_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("manual_capture", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("checkout_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("client_secret", sa.Text(), nullable=True))
        batch.create_index("ix_payments_order_id", ["order_id"])
        batch.create_index("ix_payments_customer_id_id", ["customer_id", "id"])
    with op.batch_alter_table("seller_routes") as batch:
        batch.add_column(sa.Column("is_default", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "provider_events",
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider", "event_id", name="pk_provider_events"),
    )


def downgrade() -> None:
    op.drop_table("provider_events")
    with op.batch_alter_table("seller_routes") as batch:
        batch.drop_column("is_default")
    with op.batch_alter_table("payments") as batch:
        batch.drop_index("ix_payments_customer_id_id")
        batch.drop_index("ix_payments_order_id")
        for column in ("client_secret", "checkout_url", "manual_capture", "return_url", "metadata", "customer_id", "order_id"):
            batch.drop_column(column)
