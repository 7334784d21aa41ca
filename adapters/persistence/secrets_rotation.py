"""Re-encrypting every stored secret under the first SECRETS_KEY, and encrypting what predates encryption."""

from __future__ import annotations

from sqlalchemy import Column, Table, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.tables import seller_routes, webhook_subscriptions
from adapters.secrets import FernetCipher, looks_encrypted

# Every column that holds an encrypted secret. A table of secrets added later (webhook subscription
# secrets) is listed here, and `paygate secrets rotate` then covers it too.
ENCRYPTED_COLUMNS: list[Column[str]] = [seller_routes.c.credentials, webhook_subscriptions.c.secret]


def _table(column: Column[str]) -> Table:
    table = column.table
    assert isinstance(table, Table)
    return table


async def rotate_secrets(engine: AsyncEngine, cipher: FernetCipher) -> int:
    """Rewrite every stored secret under the cipher's first key; returns how many were rewritten.

    Row by row, each a compare-and-set on the old value: a secret changed meanwhile by an operator
    was written with the current keys already, and is left as it is.
    """
    rewritten = 0
    for column in ENCRYPTED_COLUMNS:
        table = _table(column)
        keys = list(table.primary_key.columns)
        async with engine.connect() as connection:
            rows = (await connection.execute(select(*keys, column))).all()
        for row in rows:
            stored = row[-1]
            renewed = cipher.rotate(stored)
            identity = [key == value for key, value in zip(keys, row[:-1], strict=True)]
            async with engine.begin() as connection:
                result = await connection.execute(
                    update(table).where(*identity, column == stored).values({column.name: renewed})
                )
            rewritten += result.rowcount
    return rewritten


async def count_unencrypted(engine: AsyncEngine) -> int:
    """Secrets stored before encryption at rest existed (plain text in the dump)."""
    total = 0
    async with engine.connect() as connection:
        for column in ENCRYPTED_COLUMNS:
            values = await connection.scalars(select(column))
            total += sum(1 for value in values if not looks_encrypted(value))
    return total
