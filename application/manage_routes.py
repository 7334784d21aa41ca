"""Manage seller routes: add, change, deactivate, list, import. Every change is audited."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

import attrs

from domain.audit import AuditEntry, Outcome
from domain.identifiers import check_shop_id
from domain.seller_route import Credentials, SellerRoute, check_merchant_account

from application.errors import ShopNotFound
from application.ports import Clock, UnitOfWorkFactory

@attrs.frozen
class RouteSpec:
    """A route as an operator describes it (admin API, CLI, import file)."""

    shop_id: int
    provider: str
    merchant_account: str
    credentials: Mapping[str, str] = attrs.field(factory=dict)
    is_active: bool = True


@attrs.frozen
class RouteChange:
    """Fields to change on an existing route; None leaves a field as it is."""

    merchant_account: str | None = None
    credentials: Mapping[str, str] | None = None
    is_active: bool | None = None


# Called after every route change (shop_id, provider) so that caches drop the route at once.
RouteInvalidated = Callable[[int, str], None]


class ManageRoutes:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        on_change: Iterable[RouteInvalidated] = (),
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._on_change = list(on_change)

    async def add(self, spec: RouteSpec, *, actor: str | None = None) -> SellerRoute:
        now = self._clock.now()
        route = SellerRoute(
            shop_id=check_shop_id(spec.shop_id),
            provider=spec.provider,
            merchant_account=check_merchant_account(spec.provider, spec.merchant_account),
            credentials=Credentials(spec.credentials),
            is_active=spec.is_active,
            created_at=now,
            updated_at=now,
        )
        async with self._uow() as uow:
            await uow.routes.add(route)
            await uow.audit.append(_entry("route_add", route, now, actor))
            await uow.commit()
        self._changed(route)
        return route

    async def change(
        self, shop_id: int, provider: str, change: RouteChange, *, actor: str | None = None
    ) -> SellerRoute:
        now = self._clock.now()
        async with self._uow() as uow:
            current = await uow.routes.get(shop_id, provider)
            if current is None:
                raise ShopNotFound(shop_id, provider)
            credentials = dict(current.credentials.values)
            if change.credentials is not None:
                credentials.update(change.credentials)
            route = attrs.evolve(
                current,
                merchant_account=check_merchant_account(
                    provider, change.merchant_account if change.merchant_account is not None else current.merchant_account
                ),
                credentials=Credentials(credentials),
                is_active=current.is_active if change.is_active is None else change.is_active,
                updated_at=now,
            )
            await uow.routes.update(route)
            operation = "route_deactivate" if change == RouteChange(is_active=False) else "route_update"
            await uow.audit.append(_entry(operation, route, now, actor))
            await uow.commit()
        self._changed(route)
        return route

    async def deactivate(self, shop_id: int, provider: str, *, actor: str | None = None) -> SellerRoute:
        return await self.change(shop_id, provider, RouteChange(is_active=False), actor=actor)

    async def put(self, spec: RouteSpec, *, actor: str | None = None) -> SellerRoute:
        """Add the route, or bring an existing one in line with `spec` (imports are re-runnable)."""
        async with self._uow() as uow:
            current = await uow.routes.get(spec.shop_id, spec.provider)
        if current is None:
            return await self.add(spec, actor=actor)
        unchanged = (
            current.merchant_account == spec.merchant_account
            and current.is_active == spec.is_active
            and all(current.credentials.get(k) == v for k, v in spec.credentials.items())
        )
        if unchanged:
            return current  # re-running an import records no phantom change
        change = RouteChange(spec.merchant_account, spec.credentials or None, spec.is_active)
        return await self.change(spec.shop_id, spec.provider, change, actor=actor)

    async def get(self, shop_id: int, provider: str) -> SellerRoute:
        async with self._uow() as uow:
            route = await uow.routes.get(shop_id, provider)
        if route is None:
            raise ShopNotFound(shop_id, provider)
        return route

    async def list(self, *, provider: str | None = None) -> Sequence[SellerRoute]:
        async with self._uow() as uow:
            return await uow.routes.list(provider=provider)

    def _changed(self, route: SellerRoute) -> None:
        for listener in self._on_change:
            listener(route.shop_id, route.provider)


def _entry(operation: str, route: SellerRoute, at: datetime, actor: str | None) -> AuditEntry:
    return AuditEntry(
        operation_type=operation,
        status=Outcome.SUCCESS,
        created_at=at,
        shop_id=route.shop_id,
        organization_bin=route.merchant_account,
        provider=route.provider,
        actor=actor,
    )
