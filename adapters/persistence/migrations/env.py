"""Alembic's entry point: runs the migrations over an async engine for the URL in the config."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from adapters.persistence.database import create_engine


def _run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        # SQLite alters most things only by rebuilding the table; batch mode does that.
        render_as_batch=connection.dialect.name == "sqlite",
        # Our SQLite engine emits its own BEGIN, so DDL is transactional there too: a failed
        # migration leaves the schema as it was on both databases.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_migrations)
    finally:
        await engine.dispose()


asyncio.run(_migrate(context.config.attributes["url"]))
