"""Resolving a shop to its route, with the refusals every payment operation shares."""

from __future__ import annotations

from domain.errors import InvalidValue
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


async def route_for(routes: RouteStore, shop_id: int, provider: str | None) -> SellerRoute:
    """The named provider's route, or the shop's default: its only active route, or the one marked default."""
    if provider is not None:
        return await active_route(routes, shop_id, provider)
    candidates = await routes.list_for_shop(shop_id)
    if not candidates:
        raise ShopNotFound(shop_id, "any")
    active = [route for route in candidates if route.is_active]
    if not active:
        raise ShopInactive(shop_id, "any")
    if len(active) == 1:
        return active[0]
    defaults = [route for route in active if route.is_default]
    if len(defaults) != 1:
        raise InvalidValue("provider", f"shop {shop_id} has several providers and no default: name one")
    return defaults[0]
