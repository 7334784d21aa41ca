"""Applying the Alembic migrations, and refusing to serve from a database that lags behind them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import attrs
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@attrs.define(str=False)
class DatabaseNotMigrated(Exception):
    current: tuple[str, ...]
    head: tuple[str, ...]

    def __str__(self) -> str:
        return (
            f"database is not migrated (at {', '.join(self.current) or 'base'}, "
            f"code expects {', '.join(self.head)}): run `paygate migrate`"
        )


def _config(url: str | None = None) -> Config:
    config = Config()
    # Config values go through configparser interpolation, where `%` is special.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if url is not None:
        config.attributes["url"] = url
    return config


async def upgrade(url: str) -> None:
    """Migrate the database at `url` to the newest revision."""
    # Alembic's commands are synchronous and env.py runs its own event loop: give them a thread.
    # "heads": independent branches of the history (features landing side by side) all apply.
    await asyncio.to_thread(command.upgrade, _config(url), "heads")


def head_revisions() -> tuple[str, ...]:
    return tuple(sorted(ScriptDirectory.from_config(_config()).get_heads()))


def _current_revisions(connection: Connection) -> tuple[str, ...]:
    return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


async def check_migrated(engine: AsyncEngine) -> None:
    """Raises `DatabaseNotMigrated` unless the database is at exactly the code's revisions."""
    async with engine.connect() as connection:
        current = await connection.run_sync(_current_revisions)
    head = head_revisions()
    if current != head:
        raise DatabaseNotMigrated(current, head)
