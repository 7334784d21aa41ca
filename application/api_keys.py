"""API keys: issued once in plain text, stored only as a hash, checked on every request."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from domain.errors import InvalidValue

from application.ports import ApiKey, ApiKeyStore, Clock, IdGenerator

SCOPES = frozenset({"payments", "admin"})
KEY_PREFIX = "pgk_"


def hash_key(plaintext: str) -> str:
    # Keys are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(plaintext.encode()).hexdigest()


class ApiKeys:
    def __init__(self, *, store: ApiKeyStore, clock: Clock, ids: IdGenerator) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids

    async def issue(self, name: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
        """Returns the stored key and its plain text, which is never seen again."""
        wanted = frozenset(scopes)
        if not wanted or not wanted <= SCOPES:
            raise InvalidValue("scope", f"scopes must be among {sorted(SCOPES)}")
        if not name or len(name) > 100:
            raise InvalidValue("name", "a key name is 1 to 100 characters")
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            id=self._ids.new_id("key"),
            name=name,
            key_hash=hash_key(plaintext),
            scopes=wanted,
            created_at=self._clock.now(),
        )
        await self._store.add(key)
        return key, plaintext

    async def authenticate(self, plaintext: str) -> ApiKey | None:
        if not plaintext.startswith(KEY_PREFIX) or len(plaintext) > 200:
            return None
        key = await self._store.find_by_hash(hash_key(plaintext))
        if key is None or key.revoked_at is not None:
            return None
        return key
