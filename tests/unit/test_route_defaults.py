"""Routes of any provider: one default per shop, only the provider's own credential names."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import InvalidValue

from application.errors import ProviderNotConfigured
from application.manage_routes import ManageRoutes, RouteChange, RouteSpec

from tests.fakes import InMemoryDatabase
from tests.support.core import InMemoryGateway

pytestmark = pytest.mark.anyio

SHOP = 121038


# The core's providers: Kaspi, and YooKassa taking `secret_key` and `shop_key`.
@pytest.fixture
def db(empty_gateway: InMemoryGateway) -> InMemoryDatabase:
    return empty_gateway.db


@pytest.fixture
def forgotten(empty_gateway: InMemoryGateway) -> list[tuple[int, str]]:
    """The cached routes each change told the caches to drop."""
    return empty_gateway.routes.forgotten


@pytest.fixture
def routes(empty_gateway: InMemoryGateway) -> ManageRoutes:
    return empty_gateway.manage_routes


def kaspi(**changes: Any) -> RouteSpec:
    return RouteSpec(shop_id=SHOP, provider="kaspi", merchant_account="920317450731", **changes)


def yookassa(**changes: Any) -> RouteSpec:
    fields: dict[str, Any] = {"credentials": {"secret_key": "sk_1"}}
    return RouteSpec(shop_id=SHOP, provider="yookassa", merchant_account="acct_1", **(fields | changes))


async def test_a_new_default_unsets_the_shops_other_default(
    routes: ManageRoutes, db: InMemoryDatabase, forgotten: list[tuple[int, str]]
) -> None:
    await routes.add(kaspi(is_default=True))
    forgotten.clear()

    await routes.add(yookassa(is_default=True), actor="ops")

    assert (db.routes[(SHOP, "kaspi")].is_default, db.routes[(SHOP, "yookassa")].is_default) == (False, True)
    assert sorted(forgotten) == [(SHOP, "kaspi"), (SHOP, "yookassa")]  # both cached routes dropped
    assert [(e.provider, e.actor) for e in db.audit_of("route_update")] == [("kaspi", "ops")]


async def test_marking_an_existing_route_default_moves_the_default(routes: ManageRoutes, db: InMemoryDatabase) -> None:
    await routes.add(kaspi(is_default=True))
    await routes.add(yookassa())

    await routes.change(SHOP, "yookassa", RouteChange(is_default=True))

    assert [r.provider for r in db.routes.values() if r.is_default] == ["yookassa"]


async def test_a_re_run_import_without_defaults_leaves_the_default_alone(routes: ManageRoutes, db: InMemoryDatabase) -> None:
    await routes.add(kaspi(is_default=True))
    audited = len(db.audit)

    await routes.put(kaspi())

    assert db.routes[(SHOP, "kaspi")].is_default
    assert len(db.audit) == audited


async def test_a_credential_the_provider_does_not_know_is_refused(routes: ManageRoutes, db: InMemoryDatabase) -> None:
    with pytest.raises(InvalidValue) as refused:
        await routes.add(yookassa(credentials={"secretkey": "sk_1"}))

    assert refused.value.field == "credentials.secretkey"
    assert "sk_1" not in str(refused.value)
    assert db.routes == {}


@pytest.mark.parametrize("value", ["", "a\nb", "x" * 513])
async def test_an_empty_or_unprintable_credential_is_refused(routes: ManageRoutes, value: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        await routes.add(yookassa(credentials={"secret_key": value}))

    assert refused.value.field == "credentials.secret_key"


async def test_a_route_for_a_provider_this_gateway_does_not_run_is_refused(routes: ManageRoutes) -> None:
    with pytest.raises(ProviderNotConfigured):
        await routes.add(RouteSpec(shop_id=SHOP, provider="strpie", merchant_account="acct_1"))
