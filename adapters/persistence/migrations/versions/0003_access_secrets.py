"""API keys restricted to shops, with a recognisable prefix.

Route credentials need no schema change to be encrypted: the column keeps text, and rows written
before encryption (plain JSON) are read as they are until `paygate secrets rotate` encrypts them
(`paygate migrate` runs it too).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_access_secrets"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("shops", sa.Text(), nullable=True))
        batch.add_column(sa.Column("prefix", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("prefix")
        batch.drop_column("shops")
