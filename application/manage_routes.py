"""Manage seller routes: add, change, deactivate, list, import. Every change is audited."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

import attrs

from domain.audit import AuditEntry, Outcome
from domain.errors import InvalidValue
from domain.identifiers import check_shop_id
from domain.seller_route import Credentials, SellerRoute, check_merchant_account

from application.errors import ShopNotFound
from application.ports import Clock, UnitOfWork, UnitOfWorkFactory
from application.providers import ProviderDirectory

MAX_CREDENTIAL_VALUE = 512

@attrs.frozen
class RouteSpec:
    """A route as an operator describes it (admin API, CLI, import file)."""

    shop_id: int
    provider: str
    merchant_account: str
    credentials: Mapping[str, str] = attrs.field(factory=dict)
    is_active: bool = True
    # The route a payment naming no provider takes; setting it unsets the shop's other default.
    is_default: bool = False


class PutOutcome(enum.StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@attrs.frozen
class RouteChange:
    """Fields to change on an existing route; None leaves a field as it is."""

    merchant_account: str | None = None
    credentials: Mapping[str, str] | None = None
    is_active: bool | None = None
    is_default: bool | None = None


# Called after every route change (shop_id, provider) so that caches drop the route at once.
RouteInvalidated = Callable[[int, str], None]


class ManageRoutes:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        on_change: Iterable[RouteInvalidated] = (),
        providers: ProviderDirectory | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._on_change = list(on_change)
        # When given, routes are checked against what the configured providers know.
        self._providers = providers

    async def add(self, spec: RouteSpec, *, actor: str | None = None) -> SellerRoute:
        self._check_credentials(spec.provider, spec.credentials)
        now = self._clock.now()
        route = SellerRoute(
            shop_id=check_shop_id(spec.shop_id),
            provider=spec.provider,
            merchant_account=check_merchant_account(spec.provider, spec.merchant_account),
            credentials=Credentials(spec.credentials),
            is_active=spec.is_active,
            is_default=spec.is_default,
            created_at=now,
            updated_at=now,
        )
        async with self._uow() as uow:
            await uow.routes.add(route)
            await uow.audit.append(_entry("route_add", route, now, actor))
            demoted = await self._demote_other_defaults(uow, route, now, actor)
            await uow.commit()
        for changed in (route, *demoted):
            self._changed(changed)
        return route

    async def change(
        self, shop_id: int, provider: str, change: RouteChange, *, actor: str | None = None
    ) -> SellerRoute:
        if change.credentials is not None:
            self._check_credentials(provider, change.credentials)
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
                    provider,
                    change.merchant_account if change.merchant_account is not None else current.merchant_account,
                ),
                credentials=Credentials(credentials),
                is_active=current.is_active if change.is_active is None else change.is_active,
                is_default=current.is_default if change.is_default is None else change.is_default,
                updated_at=now,
            )
            await uow.routes.update(route)
            operation = "route_deactivate" if change == RouteChange(is_active=False) else "route_update"
            await uow.audit.append(_entry(operation, route, now, actor))
            demoted = await self._demote_other_defaults(uow, route, now, actor)
            await uow.commit()
        for changed in (route, *demoted):
            self._changed(changed)
        return route

    async def deactivate(self, shop_id: int, provider: str, *, actor: str | None = None) -> SellerRoute:
        return await self.change(shop_id, provider, RouteChange(is_active=False), actor=actor)

    async def put(self, spec: RouteSpec, *, actor: str | None = None) -> SellerRoute:
        """Add the route, or bring an existing one in line with `spec` (imports are re-runnable)."""
        route, _outcome = await self.put_reporting(spec, actor=actor)
        return route

    async def put_reporting(self, spec: RouteSpec, *, actor: str | None = None) -> tuple[SellerRoute, PutOutcome]:
        """`put`, saying whether the route was added, updated or already so. Credentials the spec
        does not name are kept: a row without a device token leaves a stored one as it is."""
        async with self._uow() as uow:
            current = await uow.routes.get(spec.shop_id, spec.provider)
        if current is None:
            return await self.add(spec, actor=actor), PutOutcome.ADDED
        # An import that does not mark a default leaves the shop's default as it is.
        unchanged = (
            current.merchant_account == spec.merchant_account
            and current.is_active == spec.is_active
            and all(current.credentials.get(k) == v for k, v in spec.credentials.items())
            and (current.is_default or not spec.is_default)
        )
        if unchanged:
            return current, PutOutcome.UNCHANGED  # re-running an import records no phantom change
        change = RouteChange(spec.merchant_account, spec.credentials or None, spec.is_active, spec.is_default or None)
        return await self.change(spec.shop_id, spec.provider, change, actor=actor), PutOutcome.UPDATED

    async def get(self, shop_id: int, provider: str) -> SellerRoute:
        async with self._uow() as uow:
            route = await uow.routes.get(shop_id, provider)
        if route is None:
            raise ShopNotFound(shop_id, provider)
        return route

    async def list(self, *, provider: str | None = None, shop_id: int | None = None) -> Sequence[SellerRoute]:
        async with self._uow() as uow:
            return await uow.routes.list(provider=provider, shop_id=shop_id)

    async def _demote_other_defaults(
        self, uow: UnitOfWork, route: SellerRoute, now: datetime, actor: str | None
    ) -> Sequence[SellerRoute]:
        """One default per shop: marking `route` the default unsets it on the shop's other routes.

        Two operators marking different defaults of one shop at the same instant can still both
        win; payments then refuse to guess (`route_for` asks for a provider) until one is re-marked.
        """
        if not route.is_default:
            return ()
        demoted: Sequence[SellerRoute] = ()
        for other in await uow.routes.list(shop_id=route.shop_id):
            if other.provider != route.provider and other.is_default:
                other = attrs.evolve(other, is_default=False, updated_at=now)
                await uow.routes.update(other)
                await uow.audit.append(_entry("route_update", other, now, actor))
                demoted = (*demoted, other)
        return demoted

    def _check_credentials(self, provider: str, credentials: Mapping[str, str]) -> None:
        """Only the provider's own credential names, each a non-empty printable value: a typo
        in a name would otherwise be stored silently and the route refused at payment time."""
        if self._providers is None:
            return
        profile = self._providers.get(provider).profile
        known = (*profile.credential_names, *profile.optional_credentials)
        for name, value in credentials.items():
            if name not in known:
                expected = ", ".join(known) or "none"
                raise InvalidValue(f"credentials.{name}", f"{provider} routes take these credentials: {expected}")
            if not (0 < len(value) <= MAX_CREDENTIAL_VALUE and value.isprintable()):
                raise InvalidValue(
                    f"credentials.{name}", f"a credential is 1 to {MAX_CREDENTIAL_VALUE} printable characters"
                )

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
