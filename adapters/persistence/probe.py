"""Readiness of the database: reachable, and migrated to the code's schema."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from application.errors import StorageUnavailable

from adapters.persistence.migrate import DatabaseNotMigrated, check_migrated, head_revisions
from adapters.persistence.tables import seller_routes

Service = dict[str, Any]


class DatabaseProbe:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def services(self) -> dict[str, Service]:
        """`{"database": ..., "migrations": ...}`, each `{"status": "up" | "down", ...}` with a reason safe to show."""
        started = time.perf_counter()
        try:
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except StorageUnavailable as outage:
            return _unreachable(outage.reason)
        except Exception as error:  # noqa: BLE001 - any failure means not ready; the type says enough
            return _unreachable(type(error).__name__)
        database = {"status": "up", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
        try:
            await check_migrated(self._engine)
        except DatabaseNotMigrated as not_migrated:
            return {"database": database, "migrations": {"status": "down", "reason": str(not_migrated)}}
        except Exception as error:  # noqa: BLE001 - the database went away between the two questions
            return _unreachable(type(error).__name__)
        return {"database": database, "migrations": {"status": "up", "revisions": list(head_revisions())}}

    async def providers_in_use(self) -> list[str]:
        """The providers that active seller routes name: the ones payments will be sent to."""
        query = select(seller_routes.c.provider).where(seller_routes.c.is_active).distinct()
        async with self._engine.connect() as connection:
            return sorted((await connection.execute(query)).scalars())


def _unreachable(reason: str) -> dict[str, Service]:
    return {
        "database": {"status": "down", "reason": f"database unreachable ({reason})"},
        "migrations": {"status": "unknown", "reason": "the database is unreachable"},
    }
