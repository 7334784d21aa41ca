"""`Idempotency-Key` claims on PostgreSQL: each call one statement in autocommit on psycopg's pool.

Through SQLAlchemy a claim was BEGIN, SAVEPOINT, INSERT, RELEASE, COMMIT and its completion
BEGIN, UPDATE, COMMIT, each behind a 0.18 ms pool checkout: on every create the CRM sends with a
key. `INSERT ... ON CONFLICT DO NOTHING` claims a new key in one round trip; only a key already in
the table costs a read, decided exactly as `SqlAlchemyIdempotencyStore` decides it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg.rows import namedtuple_row
from sqlalchemy.ext.asyncio import AsyncEngine

from application.ports import IdempotencyClaim, IdempotencyState, IdempotencyStore, StoredResponse

from adapters.persistence.database import AutocommitPool, storage_errors
from adapters.persistence.stores import DONE, STARTED, SqlAlchemyIdempotencyStore, claim_verdict

_CLAIM = (
    "INSERT INTO idempotency_keys (key, fingerprint, state, created_at, updated_at)"
    " VALUES (%(key)s, %(fingerprint)s, %(state)s, %(now)s, %(now)s)"
    " ON CONFLICT (key) DO NOTHING RETURNING 1"
)
_READ = (
    "SELECT key, fingerprint, state, response_status, response_body, updated_at FROM idempotency_keys WHERE key = %s"
)
# Only one of several requests finding the same stale claim may take it over.
_TAKE_OVER = (
    "UPDATE idempotency_keys SET updated_at = %(now)s"
    " WHERE key = %(key)s AND state = %(state)s AND updated_at = %(seen)s"
)
_COMPLETE = (
    "UPDATE idempotency_keys SET state = %(state)s, response_status = %(status)s, response_body = %(body)s,"
    " updated_at = %(now)s WHERE key = %(key)s"
)
# A finished response is never forgotten, even by a claimant that was taken over.
_RELEASE = "DELETE FROM idempotency_keys WHERE key = %s AND state = %s"


def idempotency_store_for(
    pool: AutocommitPool | None, engine: AsyncEngine, *, stale_after: timedelta = timedelta(minutes=2)
) -> IdempotencyStore:
    """One statement per call where there is an autocommit pool (PostgreSQL); else transactions."""
    if pool is not None:
        return PostgresIdempotencyStore(pool, stale_after=stale_after)
    return SqlAlchemyIdempotencyStore(engine, stale_after=stale_after)


class PostgresIdempotencyStore:
    """Claims on idempotency keys; a claim left 'started' longer than `stale_after` may be taken over."""

    def __init__(self, pool: AutocommitPool, *, stale_after: timedelta = timedelta(minutes=2)) -> None:
        if stale_after <= timedelta(0):
            raise ValueError("stale_after must be positive")
        self._pool = pool
        self._stale_after = stale_after

    async def claim(self, key: str, fingerprint: str, now: datetime) -> IdempotencyClaim:
        async with storage_errors(), self._pool.connection() as connection:
            claimed = await connection.execute(
                _CLAIM, {"key": key, "fingerprint": fingerprint, "state": STARTED, "now": now}
            )
            if await claimed.fetchone() is not None:
                return IdempotencyClaim(IdempotencyState.STARTED)
            cursor = connection.cursor(row_factory=namedtuple_row)
            # A named tuple of the key's columns, read by attribute as `claim_verdict` reads it.
            row: Any = await (await cursor.execute(_READ, (key,))).fetchone()
            verdict = claim_verdict(row, fingerprint, now, self._stale_after)
            if verdict is not None:
                return verdict
            taken = await connection.execute(
                _TAKE_OVER, {"now": now, "key": key, "state": STARTED, "seen": row.updated_at}
            )
        return IdempotencyClaim(IdempotencyState.STARTED if taken.rowcount == 1 else IdempotencyState.IN_PROGRESS)

    async def complete(self, key: str, response: StoredResponse, now: datetime) -> None:
        async with storage_errors(), self._pool.connection() as connection:
            await connection.execute(
                _COMPLETE,
                {"state": DONE, "status": response.status_code, "body": response.body, "now": now, "key": key},
            )

    async def release(self, key: str) -> None:
        async with storage_errors(), self._pool.connection() as connection:
            await connection.execute(_RELEASE, (key, STARTED))
