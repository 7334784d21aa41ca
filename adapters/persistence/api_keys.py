"""API keys on SQLAlchemy Core: the row mapping and the repository bound to a unit of work."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.access import ApiKey

from adapters.persistence.invalidation import announce, key_topic
from adapters.persistence.tables import api_keys


def _json_list(values: Iterable[str] | Iterable[int]) -> str:
    # Sorted, so that the same scopes (or shops) are always the same text; rows written before
    # msgspec (`["a", "b"]`, with spaces) read the same.
    return msgspec.json.encode(sorted(values)).decode()


def api_key_row(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "key_hash": key.key_hash,
        "scopes": _json_list(key.scopes),
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
        "shops": None if key.shops is None else _json_list(key.shops),
        "prefix": key.prefix,
    }


def api_key_from_row(row: Row[Any]) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        key_hash=row.key_hash,
        scopes=frozenset(msgspec.json.decode(row.scopes)),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        shops=None if row.shops is None else frozenset(msgspec.json.decode(row.shops)),
        prefix=row.prefix,
    )


class SqlAlchemyApiKeyRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, key: ApiKey) -> None:
        await self._connection.execute(insert(api_keys).values(api_key_row(key)))

    async def get(self, key_id: str) -> ApiKey | None:
        row = (await self._connection.execute(select(api_keys).where(api_keys.c.id == key_id))).one_or_none()
        return None if row is None else api_key_from_row(row)

    async def revoke(self, key_id: str, at: datetime) -> bool:
        revoked = (
            await self._connection.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=at)
                .returning(api_keys.c.key_hash)
            )
        ).one_or_none()
        if revoked is None:
            return False
        # Delivered to every replica's cache on commit: the key stops working everywhere at once.
        await announce(self._connection, key_topic(revoked.key_hash))
        return True
