"""The route store read outside transactions, straight from the in-memory database's committed routes."""

from __future__ import annotations

from collections.abc import Sequence

from domain.seller_route import SellerRoute

from tests.fakes.database import InMemoryDatabase


class InMemoryRouteStore:
    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db
        self.forgotten: list[tuple[int, str]] = []  # what a change told the caches to drop

    async def get(self, shop_id: int, provider: str) -> SellerRoute | None:
        return self._db.routes.get((shop_id, provider))

    async def list_for_shop(self, shop_id: int) -> Sequence[SellerRoute]:
        return [route for (shop, _provider), route in sorted(self._db.routes.items()) if shop == shop_id]

    def forget(self, shop_id: int, provider: str) -> None:
        """Nothing is cached here (every read goes to the database); noted, as a cache would drop it."""
        self.forgotten.append((shop_id, provider))
