"""The API key store read outside transactions, straight from the in-memory database's committed keys."""

from __future__ import annotations

from collections.abc import Sequence

from domain.access import ApiKey

from tests.fakes.database import InMemoryDatabase


class InMemoryApiKeyStore:
    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db
        self.lookups = 0  # how often a caller went to the "database" (a cache in front should spare it)
        self.forgotten: list[str] = []  # the key hashes a change told the caches to drop

    async def find_by_hash(self, key_hash: str) -> ApiKey | None:
        self.lookups += 1
        return next((k for k in self._db.api_keys.values() if k.key_hash == key_hash), None)

    async def list(self) -> Sequence[ApiKey]:
        return sorted(self._db.api_keys.values(), key=lambda k: (k.created_at, k.id))

    def forget(self, key_hash: str) -> None:
        """Nothing is cached here (every lookup goes to the database); noted, as a cache would drop it."""
        self.forgotten.append(key_hash)
