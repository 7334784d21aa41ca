"""The card wallet that paid a payment (Stripe's `latest_charge.payment_method_details.card.wallet.type`)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_payment_wallet"
down_revision = "0007_console"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("wallet", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("wallet")
