"""API keys: issued once in plain text, stored only as a hash, checked on every request, revocable."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import attrs

from domain.access import ApiKey, Scope
from domain.audit import AuditEntry, Outcome
from domain.errors import InvalidValue
from domain.identifiers import check_shop_id

from application.errors import ApiKeyNotFound
from application.ports import ApiKeyStore, Clock, IdGenerator, UnitOfWorkFactory

SCOPES = frozenset(Scope)
KEY_PREFIX = "pgk_"
# Shown in listings so an operator can tell keys apart; 4 + 8 characters reveal 48 of the 256 bits.
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 8
MAX_SHOPS = 1000

# Called after a key changes (its hash) so that caches forget it at once.
KeyInvalidated = Callable[[str], None]


def hash_key(plaintext: str) -> str:
    # Keys are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(plaintext.encode()).hexdigest()


class ApiKeys:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        store: ApiKeyStore,
        clock: Clock,
        ids: IdGenerator,
        on_change: Iterable[KeyInvalidated] = (),
    ) -> None:
        self._uow = uow
        self._store = store
        self._clock = clock
        self._ids = ids
        self._on_change = list(on_change)

    async def issue(
        self,
        name: str,
        scopes: Iterable[str],
        *,
        shops: Iterable[int] | None = None,
        actor: str | None = None,
        creator: ApiKey | None = None,
    ) -> tuple[ApiKey, str]:
        """Returns the stored key and its plain text, which is never seen again.

        `creator`: the key asking (the console); the new key never exceeds its scopes or its shops.
        """
        wanted = frozenset(scopes)
        if not wanted or not wanted <= SCOPES:
            raise InvalidValue("scope", f"scopes must be among {', '.join(sorted(SCOPES))}")
        if creator is not None:
            _check_within(creator, wanted, shops)
        if not name or len(name) > 100 or not name.isprintable():
            raise InvalidValue("name", "a key name is 1 to 100 printable characters")
        reach = None if shops is None else frozenset(check_shop_id(shop) for shop in shops)
        if reach is not None and not 1 <= len(reach) <= MAX_SHOPS:
            raise InvalidValue("shop", f"a key restricted to shops names 1 to {MAX_SHOPS} of them")
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        key = ApiKey(
            id=self._ids.new_id("key"),
            name=name,
            key_hash=hash_key(plaintext),
            scopes=wanted,
            created_at=now,
            shops=reach,
            prefix=plaintext[:SHOWN_PREFIX_LENGTH],
        )
        async with self._uow() as uow:
            for shop in sorted(reach or ()):
                # A typo would otherwise make a key that reaches nothing, found out only by its user.
                if not await uow.routes.list(shop_id=shop):
                    raise InvalidValue("shop", f"shop {shop} is unknown: it has no route (add the shop's route first)")
            await uow.api_keys.add(key)
            await uow.audit.append(_entry("api_key_create", key, now, actor))
            await uow.commit()
        return key, plaintext

    async def revoke(self, key_id: str, *, actor: str | None = None) -> ApiKey:
        """Revoke a key for good; revoking it again changes nothing and records nothing."""
        now = self._clock.now()
        async with self._uow() as uow:
            key = await uow.api_keys.get(key_id)
            if key is None:
                raise ApiKeyNotFound(key_id)
            if not await uow.api_keys.revoke(key_id, now):
                return key
            await uow.audit.append(_entry("api_key_revoke", key, now, actor))
            await uow.commit()
        for forget in self._on_change:
            forget(key.key_hash)
        return attrs.evolve(key, revoked_at=now)

    async def list(self) -> Sequence[ApiKey]:
        return await self._store.list()

    async def find(self, key_id: str) -> ApiKey | None:
        """The key by its id, revoked or not (a console session re-checks its key on every request)."""
        async with self._uow() as uow:
            return await uow.api_keys.get(key_id)

    async def authenticate(self, plaintext: str) -> ApiKey | None:
        if not plaintext.startswith(KEY_PREFIX) or len(plaintext) > 200:
            return None
        key = await self._store.find_by_hash(hash_key(plaintext))
        if key is None or key.revoked_at is not None:
            return None
        return key


def _check_within(creator: ApiKey, scopes: frozenset[str], shops: Iterable[int] | None) -> None:
    beyond = sorted(scope for scope in scopes if not creator.allows(scope))
    if beyond:
        raise InvalidValue("scope", f"a key cannot grant what it lacks: {', '.join(beyond)}")
    if creator.shops is not None and (shops is None or not set(shops) <= creator.shops):
        raise InvalidValue("shop", "a key restricted to shops can only create keys within those shops")


def _entry(operation: str, key: ApiKey, at: datetime, actor: str | None) -> AuditEntry:
    # The audit log has no column for a key: its id goes where a payment's reference would.
    return AuditEntry(operation_type=operation, status=Outcome.SUCCESS, created_at=at, external_id=key.id, actor=actor)
