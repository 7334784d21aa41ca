"""Readiness of the database: reachable, and migrated to the code's schema."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.migrate import DatabaseNotMigrated, check_migrated


class DatabaseProbe:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def check(self) -> dict[str, str]:
        """`{"status": "up"}`, or `{"status": "down", "reason": ...}` with a reason safe to show."""
        try:
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            await check_migrated(self._engine)
        except DatabaseNotMigrated as not_migrated:
            return {"status": "down", "reason": str(not_migrated)}
        except Exception as error:  # noqa: BLE001 - any failure means not ready; the type says enough
            return {"status": "down", "reason": f"database unreachable ({type(error).__name__})"}
        return {"status": "up"}
