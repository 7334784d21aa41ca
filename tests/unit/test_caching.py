"""The route and API key caches: served from memory once warm, forgotten at once on a change."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from domain.seller_route import SellerRoute

from application.manage_routes import RouteChange

from adapters.caching import CachedApiKeyStore, CachedRouteStore, CacheInvalidation, TtlCache

from tests.fakes import InMemoryRouteStore
from tests.support.core import InMemoryGateway
from tests.unit.conftest import OTHER_SHOP, SHOP

pytestmark = pytest.mark.anyio


class Ticking:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingRouteStore:
    """The in-memory route store, counting how often it is asked (each would be a database query)."""

    def __init__(self, inner: InMemoryRouteStore) -> None:
        self._inner = inner
        self.queries = 0
        self.queried = asyncio.Event()
        self.hold: asyncio.Event | None = None  # when given, a read answers only once it is set

    async def get(self, shop_id: int, provider: str) -> SellerRoute | None:
        self.queries += 1
        route = await self._inner.get(shop_id, provider)
        self.queried.set()
        if self.hold is not None:
            await self.hold.wait()
        return route

    async def list_for_shop(self, shop_id: int) -> Sequence[SellerRoute]:
        self.queries += 1
        return await self._inner.list_for_shop(shop_id)


@pytest.fixture
def clock() -> Ticking:
    return Ticking()


@pytest.fixture
def database(gateway: InMemoryGateway) -> CountingRouteStore:
    return CountingRouteStore(gateway.routes)


@pytest.fixture
def routes(database: CountingRouteStore, clock: Ticking) -> CachedRouteStore:
    return CachedRouteStore(database, ttl=5, clock=clock)


async def test_a_warm_route_costs_no_query(routes: CachedRouteStore, database: CountingRouteStore) -> None:
    first = await routes.get(SHOP, "kaspi")
    again = [await routes.get(SHOP, "kaspi") for _ in range(100)]

    assert first is not None and all(route == first for route in again)
    assert database.queries == 1


async def test_an_unknown_shop_is_cached_too(routes: CachedRouteStore, database: CountingRouteStore) -> None:
    assert await routes.get(999_999, "kaspi") is None
    assert await routes.get(999_999, "kaspi") is None
    assert database.queries == 1


async def test_a_route_is_read_again_once_its_ttl_is_over(
    routes: CachedRouteStore, database: CountingRouteStore, clock: Ticking
) -> None:
    await routes.get(SHOP, "kaspi")
    clock.now += 4.9
    await routes.get(SHOP, "kaspi")
    assert database.queries == 1

    clock.now += 0.2
    await routes.get(SHOP, "kaspi")
    assert database.queries == 2


async def test_a_shops_routes_are_cached_and_forgotten_with_its_routes(
    routes: CachedRouteStore, database: CountingRouteStore
) -> None:
    listed = await routes.list_for_shop(SHOP)
    assert [r.shop_id for r in listed] == [SHOP]
    await routes.list_for_shop(SHOP)
    assert database.queries == 1

    routes.forget(SHOP, "kaspi")
    await routes.list_for_shop(SHOP)
    assert database.queries == 2


async def test_a_route_change_through_the_use_case_is_seen_at_once(
    gateway: InMemoryGateway, routes: CachedRouteStore
) -> None:
    gateway.override(gateway.container.route_store, routes)  # the use case tells the cache as the container wires it
    manage = gateway.manage_routes
    before = await routes.get(SHOP, "kaspi")
    assert before is not None and before.is_active

    await manage.change(SHOP, "kaspi", RouteChange(is_active=False))

    route = await routes.get(SHOP, "kaspi")
    assert route is not None and not route.is_active
    other = await routes.get(OTHER_SHOP, "kaspi")
    assert other is not None and other.is_active


async def test_a_value_read_before_a_change_is_not_cached_after_it(
    gateway: InMemoryGateway, routes: CachedRouteStore, database: CountingRouteStore
) -> None:
    gateway.override(gateway.container.route_store, routes)
    manage = gateway.manage_routes
    database.hold = asyncio.Event()
    # A request reads the route, and is slow to come back with it...
    reader = asyncio.create_task(routes.get(SHOP, "kaspi"))
    await asyncio.wait_for(database.queried.wait(), timeout=5)
    # ...while an operator deactivates the shop, and another request comes in.
    await manage.deactivate(SHOP, "kaspi")
    later = asyncio.create_task(routes.get(SHOP, "kaspi"))
    database.hold.set()

    old, new = await asyncio.wait_for(asyncio.gather(reader, later), timeout=5)

    assert old is not None and old.is_active  # that request saw the old route...
    assert new is not None and not new.is_active  # ...the later one read afresh, not joining it...
    assert database.queries == 2
    now = await routes.get(SHOP, "kaspi")
    assert now is not None and not now.is_active  # ...and the cache did not keep the old one
    assert database.queries == 2


async def test_requests_missing_the_same_route_at_once_share_one_query(
    routes: CachedRouteStore, database: CountingRouteStore
) -> None:
    # An entry expiring under load: every request in flight misses it at the same moment.
    database.hold = asyncio.Event()
    readers = [asyncio.create_task(routes.get(SHOP, "kaspi")) for _ in range(50)]
    await asyncio.wait_for(database.queried.wait(), timeout=5)
    database.hold.set()

    found = await asyncio.gather(*readers)

    assert found[0] is not None and all(route == found[0] for route in found)
    assert database.queries == 1


async def test_a_failed_read_reaches_everyone_waiting_and_is_not_cached(clock: Ticking) -> None:
    cache: TtlCache[int, str] = TtlCache(ttl=60, clock=clock)
    release, reads = asyncio.Event(), []

    async def failing() -> str:
        reads.append(1)
        await release.wait()
        raise ConnectionError("database down")

    waiting = [asyncio.create_task(cache.get_or_load(1, failing)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)

    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes) and len(reads) == 1

    async def working() -> str:
        return "route"

    assert await cache.get_or_load(1, working) == "route"


def test_the_cache_is_bounded_dropping_the_oldest_entries(clock: Ticking) -> None:
    cache: TtlCache[int, str] = TtlCache(ttl=60, max_entries=3, clock=clock)
    for shop in range(5):
        cache.put(shop, f"shop {shop}", generation=cache.generation)

    assert len(cache) == 3
    assert [cache.get(shop) for shop in (2, 3, 4)] == ["shop 2", "shop 3", "shop 4"]


def test_a_zero_ttl_caches_nothing(clock: Ticking) -> None:
    cache: TtlCache[int, str] = TtlCache(ttl=0, clock=clock)
    cache.put(1, "x", generation=cache.generation)
    assert len(cache) == 0


async def test_a_warm_key_costs_no_query_and_a_revocation_is_seen_at_once(gateway: InMemoryGateway) -> None:
    gateway.override(gateway.container.api_key_store, CachedApiKeyStore(gateway.api_key_store, ttl=60))
    api_keys = gateway.api_keys
    key, plaintext = await api_keys.issue("shop backend", ["payments"])
    assert await api_keys.authenticate(plaintext) == key
    lookups = gateway.api_key_store.lookups

    for _ in range(50):
        assert await api_keys.authenticate(plaintext) == key
    assert gateway.api_key_store.lookups == lookups

    await api_keys.revoke(key.id)
    assert await api_keys.authenticate(plaintext) is None


async def test_unknown_keys_are_not_cached_so_a_new_key_works_at_once(gateway: InMemoryGateway) -> None:
    keys = CachedApiKeyStore(gateway.api_key_store, ttl=60)
    assert await keys.find_by_hash("0" * 64) is None
    assert await keys.find_by_hash("0" * 64) is None
    assert gateway.api_key_store.lookups == 2


async def test_with_a_zero_ttl_every_key_lookup_reads_the_store_none_shares_a_read_in_flight(
    gateway: InMemoryGateway,
) -> None:
    # SQLite (no notices): a lookup begun after a revocation must not join one begun before it.
    gateway.override(gateway.container.api_key_store, CachedApiKeyStore(gateway.api_key_store, ttl=0))
    api_keys = gateway.api_keys
    _key, plaintext = await api_keys.issue("shop backend", ["payments"])
    lookups = gateway.api_key_store.lookups

    await asyncio.gather(*(api_keys.authenticate(plaintext) for _ in range(5)))

    assert gateway.api_key_store.lookups == lookups + 5


@pytest.mark.parametrize(
    ("topic", "routes_left", "keys_left"),
    [
        (f"route:{SHOP}:kaspi", 1, 1),
        ("key:hash-a", 2, 0),
        ("*", 0, 0),
        ("something:new", 0, 0),
        ("route:not-a-number:kaspi", 0, 0),
    ],
)
async def test_a_notice_forgets_what_it_names_and_anything_unclear_forgets_everything(
    gateway: InMemoryGateway, topic: str, routes_left: int, keys_left: int
) -> None:
    routes = CountingRouteStore(gateway.routes)
    cached_routes = CachedRouteStore(routes, ttl=60)
    key, _ = await gateway.api_keys.issue("k", ["payments"])
    cached_keys = CachedApiKeyStore(gateway.api_key_store, ttl=60)
    await cached_routes.get(SHOP, "kaspi")
    await cached_routes.get(OTHER_SHOP, "kaspi")
    await cached_keys.find_by_hash(key.key_hash)
    invalidate = CacheInvalidation(cached_routes, cached_keys)

    invalidate(topic.replace("hash-a", key.key_hash))

    before = routes.queries
    await cached_routes.get(SHOP, "kaspi")
    await cached_routes.get(OTHER_SHOP, "kaspi")
    assert 2 - (routes.queries - before) == routes_left
    lookups = gateway.api_key_store.lookups
    await cached_keys.find_by_hash(key.key_hash)
    assert 1 - (gateway.api_key_store.lookups - lookups) == keys_left
