"""Webhook deliveries can be `blocked`: their target is not allowed, so they were never sent."""

from __future__ import annotations

from alembic import op

revision = "0005_blocked_webhook_deliveries"
down_revision = "0002_polling_events_webhooks"
branch_labels = None
depends_on = None

_NAME = "ck_webhook_deliveries_known_status"


def _statuses(*statuses: str) -> str:
    return "status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")"


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_constraint(_NAME, type_="check")
        batch.create_check_constraint(_NAME, _statuses("pending", "delivered", "dead", "cancelled", "blocked"))


def downgrade() -> None:
    # A blocked delivery goes back to waiting: the old code retries (and dead-letters) it as it would have.
    op.execute("UPDATE webhook_deliveries SET status = 'pending' WHERE status = 'blocked'")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_constraint(_NAME, type_="check")
        batch.create_check_constraint(_NAME, _statuses("pending", "delivered", "dead", "cancelled"))
