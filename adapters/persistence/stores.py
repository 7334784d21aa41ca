"""Stores used outside a unit of work, each call in its own short transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.access import ApiKey
from domain.seller_route import SellerRoute

from application.ports import IdempotencyClaim, IdempotencyState, SecretCipher, StoredResponse

from adapters.persistence.api_keys import api_key_from_row
from adapters.persistence.repositories import SqlAlchemyRouteRepository
from adapters.persistence.tables import api_keys, idempotency_keys

STARTED = "started"
DONE = "done"


def claim_verdict(row: Any, fingerprint: str, now: datetime, stale_after: timedelta) -> IdempotencyClaim | None:
    """What a claim on a key already in the table gets; None when the claim is stale and may be
    taken over. `row` is the key's row (None: released between the insert and the read)."""
    if row is None:
        # Released between our insert and our read: another request was using the key just now.
        return IdempotencyClaim(IdempotencyState.IN_PROGRESS)
    if row.fingerprint != fingerprint:
        return IdempotencyClaim(IdempotencyState.MISMATCH)
    if row.state == DONE:
        return IdempotencyClaim(IdempotencyState.REPLAY, StoredResponse(row.response_status, bytes(row.response_body)))
    if now - row.updated_at < stale_after:
        return IdempotencyClaim(IdempotencyState.IN_PROGRESS)
    return None


class SqlAlchemyRouteStore:
    def __init__(self, engine: AsyncEngine, *, cipher: SecretCipher | None = None) -> None:
        self._engine = engine
        self._cipher = cipher

    async def get(self, shop_id: int, provider: str) -> SellerRoute | None:
        async with self._engine.connect() as connection:
            return await SqlAlchemyRouteRepository(connection, cipher=self._cipher).get(shop_id, provider)

    async def list_for_shop(self, shop_id: int) -> Sequence[SellerRoute]:
        async with self._engine.connect() as connection:
            return await SqlAlchemyRouteRepository(connection, cipher=self._cipher).list(shop_id=shop_id)


class SqlAlchemyIdempotencyStore:
    """Claims on idempotency keys; a claim left 'started' longer than `stale_after` may be taken over.

    A request that died mid-way (a killed worker) would otherwise block its key forever.
    """

    def __init__(self, engine: AsyncEngine, *, stale_after: timedelta = timedelta(minutes=2)) -> None:
        # The takeover's compare-and-set on updated_at relies on a takeover moving it forward.
        if stale_after <= timedelta(0):
            raise ValueError("stale_after must be positive")
        self._engine = engine
        self._stale_after = stale_after

    async def claim(self, key: str, fingerprint: str, now: datetime) -> IdempotencyClaim:
        async with self._engine.begin() as connection:
            try:
                async with connection.begin_nested():
                    await connection.execute(
                        insert(idempotency_keys).values(
                            key=key, fingerprint=fingerprint, state=STARTED, created_at=now, updated_at=now
                        )
                    )
            except IntegrityError:
                row = (
                    await connection.execute(select(idempotency_keys).where(idempotency_keys.c.key == key))
                ).one_or_none()
                return await self._existing(connection, row, fingerprint, now)
            return IdempotencyClaim(IdempotencyState.STARTED)

    async def _existing(
        self, connection: AsyncConnection, row: Row[Any] | None, fingerprint: str, now: datetime
    ) -> IdempotencyClaim:
        verdict = claim_verdict(row, fingerprint, now, self._stale_after)
        if verdict is not None:
            return verdict
        assert row is not None
        # Only one of several requests finding the same stale claim may take it over.
        taken = await connection.execute(
            update(idempotency_keys)
            .where(
                idempotency_keys.c.key == row.key,
                idempotency_keys.c.state == STARTED,
                idempotency_keys.c.updated_at == row.updated_at,
            )
            .values(updated_at=now)
        )
        return IdempotencyClaim(IdempotencyState.STARTED if taken.rowcount == 1 else IdempotencyState.IN_PROGRESS)

    async def complete(self, key: str, response: StoredResponse, now: datetime) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                update(idempotency_keys)
                .where(idempotency_keys.c.key == key)
                .values(
                    state=DONE,
                    response_status=response.status_code,
                    response_body=response.body,
                    updated_at=now,
                )
            )

    async def release(self, key: str) -> None:
        async with self._engine.begin() as connection:
            # A finished response is never forgotten, even by a claimant that was taken over.
            await connection.execute(
                delete(idempotency_keys).where(idempotency_keys.c.key == key, idempotency_keys.c.state == STARTED)
            )


class SqlAlchemyApiKeyStore:
    """Key lookups outside a transaction; changes go through the unit of work (`uow.api_keys`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def find_by_hash(self, key_hash: str) -> ApiKey | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(select(api_keys).where(api_keys.c.key_hash == key_hash))).one_or_none()
        return None if row is None else api_key_from_row(row)

    async def list(self) -> Sequence[ApiKey]:
        async with self._engine.connect() as connection:
            rows = await connection.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id))
            return [api_key_from_row(row) for row in rows]
