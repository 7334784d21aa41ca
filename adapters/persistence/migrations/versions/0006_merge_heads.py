"""Join the three branches of the history (access secrets, webhook deliveries, refund lifecycle) into
one head, so that the next migration has exactly one revision to follow. No schema change."""

from __future__ import annotations

revision = "0006_merge_heads"
down_revision = ("0003_access_secrets", "0005_blocked_webhook_deliveries", "0005_refund_lifecycle")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
