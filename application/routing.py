"""Resolving a shop to its route, with the refusals every payment operation shares."""

from __future__ import annotations

from domain.seller_route import SellerRoute

from application.errors import ShopInactive, ShopNotFound
from application.ports import RouteStore


async def active_route(routes: RouteStore, shop_id: int, provider: str) -> SellerRoute:
    route = await routes.get(shop_id, provider)
    if route is None:
        raise ShopNotFound(shop_id, provider)
    if not route.is_active:
        raise ShopInactive(shop_id, provider)
    return route
