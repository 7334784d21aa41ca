"""Implicit idempotency keys, kept in `idempotency_keys`: which payment key a content stands for.

A row `implicit:<caller>:<content hash>` holds, in `fingerprint`, the idempotency key of the payment
that content opened, and in `created_at` when that binding was made. One upsert decides, on
SQLite and PostgreSQL alike: a binding younger than the window stays (every concurrent request
reads the same key back and the payment's unique key lets one of them reach the provider); an
older one is replaced, so the same content later is a new payment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.stores import DONE
from adapters.persistence.tables import idempotency_keys

# Both dialects' `Insert` have `on_conflict_do_update` with the same arguments.
_INSERTS: dict[str, Callable[[Table], Any]] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class SqlImplicitIdempotency:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert = _INSERTS[engine.dialect.name]

    async def bind(self, content_key: str, candidate: str, now: datetime, window: timedelta) -> str:
        table = idempotency_keys
        statement = self._insert(table).values(
            key=content_key, fingerprint=candidate, state=DONE, created_at=now, updated_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"fingerprint": candidate, "created_at": now, "updated_at": now},
            where=table.c.created_at <= now - window,
        )
        async with self._engine.begin() as connection:
            # The upsert locks the row (PostgreSQL) or the database (SQLite, BEGIN IMMEDIATE) until
            # commit, so the read below sees the binding this transaction made or kept.
            await connection.execute(statement)
            bound = await connection.scalar(select(table.c.fingerprint).where(table.c.key == content_key))
        assert bound is not None
        return str(bound)
