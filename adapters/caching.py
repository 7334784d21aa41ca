"""In-process caches of routes and API keys: every request needs both, and they rarely change.

Entries live for a short TTL and are dropped at once on a change: by the use case that made it
(same process) or by a database notice (`adapters.persistence.invalidation`, other processes).
Concurrent misses of one entry share one read: when an entry expires under load, hundreds of
requests in flight would otherwise each query the database for the same row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

from domain.seller_route import SellerRoute

from application.ports import ApiKey, ApiKeyStore, RouteStore

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
MISS = object()  # what `TtlCache.get` answers for an absent or expired entry (None is a value)


def _always(_value: object) -> bool:
    return True


def _known(value: object) -> bool:
    return value is not None


class TtlCache(Generic[K, V]):
    """A bounded map whose entries expire `ttl` seconds after they were stored.

    `generation` moves on at every invalidation; a value read from the database before an
    invalidation must not be stored after it (it may be the old value), so `put` takes the
    generation its caller saw before reading and refuses a stale one.
    """

    def __init__(self, *, ttl: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}
        self.generation = 0

    def get(self, key: K) -> V | object:
        found = self._fresh(key)
        return MISS if found is None else found[0]

    def _fresh(self, key: K) -> tuple[V] | None:
        """The live entry's value in a 1-tuple (None is a value too); None when absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._clock() >= expires:
            del self._entries[key]
            return None
        return (value,)

    async def get_or_load(self, key: K, load: Callable[[], Awaitable[V]], *, keep: Callable[[V], bool] = _always) -> V:
        """The cached value, or `load()`'s, shared by every caller that misses meanwhile; stored
        when `keep(value)` and no change came in between (an error is not stored)."""
        found = self._fresh(key)
        if found is not None:
            return found[0]
        loading = self._loading.get(key)
        if loading is None:
            generation = self.generation
            # A task of its own: one caller's cancellation must not fail the others waiting on it.
            loading = asyncio.ensure_future(load())
            self._loading[key] = loading
            loading.add_done_callback(lambda done: self._loaded(key, done, generation, keep))
        return await asyncio.shield(loading)

    def _loaded(self, key: K, done: asyncio.Future[V], generation: int, keep: Callable[[V], bool]) -> None:
        if self._loading.get(key) is done:
            del self._loading[key]
        if not done.cancelled() and done.exception() is None and keep(done.result()):
            self.put(key, done.result(), generation=generation)

    def put(self, key: K, value: V, *, generation: int) -> None:
        if generation != self.generation or self._ttl <= 0:
            return
        if len(self._entries) >= self._max_entries and key not in self._entries:
            # Oldest first (dicts keep insertion order): random unknown shop ids cannot grow it forever.
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (self._clock() + self._ttl, value)

    def drop(self, key: K) -> None:
        self.generation += 1
        self._entries.pop(key, None)
        self._loading.pop(key, None)  # a read begun before the change serves only who already waits

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._loading.clear()

    def __len__(self) -> int:
        return len(self._entries)


class CachedRouteStore:
    """A `RouteStore` in front of another; unknown shops are cached too (a miss costs a query as well)."""

    def __init__(
        self, inner: RouteStore, *, ttl: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._inner = inner
        self._routes: TtlCache[tuple[int, str], SellerRoute | None] = TtlCache(
            ttl=ttl, max_entries=max_entries, clock=clock
        )
        self._shops: TtlCache[int, Sequence[SellerRoute]] = TtlCache(ttl=ttl, max_entries=max_entries, clock=clock)

    async def get(self, shop_id: int, provider: str) -> SellerRoute | None:
        return await self._routes.get_or_load((shop_id, provider), lambda: self._inner.get(shop_id, provider))

    async def list_for_shop(self, shop_id: int) -> Sequence[SellerRoute]:
        return await self._shops.get_or_load(shop_id, lambda: self._listed(shop_id))

    async def _listed(self, shop_id: int) -> Sequence[SellerRoute]:
        return tuple(await self._inner.list_for_shop(shop_id))

    def forget(self, shop_id: int, provider: str) -> None:
        self._routes.drop((shop_id, provider))
        self._shops.drop(shop_id)

    def clear(self) -> None:
        self._routes.clear()
        self._shops.clear()


class CachedApiKeyStore:
    """An `ApiKeyStore` whose lookups by hash are cached; unknown hashes are not (a new key works at once).

    `ttl=0` reads every lookup from the store: where no notice announces a revocation (SQLite),
    a revoked key must still be refused at its next request.
    """

    def __init__(
        self, inner: ApiKeyStore, *, ttl: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._inner = inner
        self._cached = ttl > 0
        self._keys: TtlCache[str, ApiKey | None] = TtlCache(ttl=ttl, max_entries=max_entries, clock=clock)

    async def find_by_hash(self, key_hash: str) -> ApiKey | None:
        if not self._cached:
            # Not even a shared read: one begun before a revocation could answer a request made after it.
            return await self._inner.find_by_hash(key_hash)
        return await self._keys.get_or_load(key_hash, lambda: self._inner.find_by_hash(key_hash), keep=_known)

    async def list(self) -> Sequence[ApiKey]:
        return await self._inner.list()

    def forget(self, key_hash: str) -> None:
        self._keys.drop(key_hash)

    def clear(self) -> None:
        self._keys.clear()


class CacheInvalidation:
    """Applies a notice (`route:<shop>:<provider>`, `key:<hash>`, or `EVERYTHING`) to the caches."""

    def __init__(self, routes: CachedRouteStore, keys: CachedApiKeyStore) -> None:
        self._routes = routes
        self._keys = keys

    def __call__(self, topic: str) -> None:
        kind, _, rest = topic.partition(":")
        if kind == "route":
            shop, _, provider = rest.partition(":")
            if shop.isdigit() and provider:
                self._routes.forget(int(shop), provider)
                return
        elif kind == "key" and rest:
            self._keys.forget(rest)
            return
        # `*` after a reconnect, or a notice this version does not know (a newer replica's): forgetting all is safe.
        self._routes.clear()
        self._keys.clear()
