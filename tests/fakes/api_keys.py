"""An in-memory API key store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from application.ports import ApiKey


class InMemoryApiKeyStore:
    def __init__(self) -> None:
        self.keys: dict[str, ApiKey] = {}

    async def add(self, key: ApiKey) -> None:
        if key.id in self.keys or any(k.key_hash == key.key_hash for k in self.keys.values()):
            raise AssertionError(f"api key {key.id} added twice")
        self.keys[key.id] = key

    async def find_by_hash(self, key_hash: str) -> ApiKey | None:
        return next((k for k in self.keys.values() if k.key_hash == key_hash), None)

    async def list(self) -> Sequence[ApiKey]:
        return sorted(self.keys.values(), key=lambda k: (k.created_at, k.id))

    async def revoke(self, key_id: str, at: datetime) -> bool:
        """As the SQL store does (the port does not declare it yet): True only for the first revocation."""
        key = self.keys.get(key_id)
        if key is None or key.revoked_at is not None:
            return False
        self.keys[key_id] = attrs.evolve(key, revoked_at=at)
        return True
