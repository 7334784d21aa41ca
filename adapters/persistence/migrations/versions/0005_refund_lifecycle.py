"""Refunds followed to the provider's final word (their poll checks), and status provenance on
payments, refunds and audit entries."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_refund_lifecycle"
down_revision = "0004_provider_neutral"
branch_labels = None
depends_on = None

_PROVENANCE = ("status_source", "status_observed_at")


def upgrade() -> None:
    for table in ("payments", "refunds"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("status_source", sa.String(300), nullable=True))
            batch.add_column(sa.Column("status_observed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("payment_log") as batch:
        batch.add_column(sa.Column("source", sa.String(300), nullable=True))
        batch.add_column(sa.Column("observed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("refund_id", sa.String(64), nullable=True))
    op.create_table(
        "refund_checks",
        sa.Column("refund_id", sa.String(64), nullable=False),
        sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["refund_id"], ["refunds.id"], name="fk_refund_checks_refund_id_refunds"),
        sa.PrimaryKeyConstraint("refund_id", name="pk_refund_checks"),
    )
    op.create_index("ix_refund_checks_next_check_at", "refund_checks", ["next_check_at"])
    # Refunds left pending by earlier versions (an unknown outcome) get a check: the poller resolves them now.
    op.execute(
        "INSERT INTO refund_checks (refund_id, next_check_at, attempts) "
        "SELECT id, CURRENT_TIMESTAMP, 0 FROM refunds WHERE status = 'pending'"
    )


def downgrade() -> None:
    op.drop_index("ix_refund_checks_next_check_at", table_name="refund_checks")
    op.drop_table("refund_checks")
    with op.batch_alter_table("payment_log") as batch:
        for column in ("refund_id", "observed_at", "source"):
            batch.drop_column(column)
    for table in ("refunds", "payments"):
        with op.batch_alter_table(table) as batch:
            for column in reversed(_PROVENANCE):
                batch.drop_column(column)
