"""Routes of any provider: one default per shop, only the provider's own credential names."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import InvalidValue

from application.errors import ProviderNotConfigured
from application.manage_routes import ManageRoutes, RouteChange, RouteSpec
from application.providers import ProviderDirectory

from tests.fakes import FakeProvider, FixedClock, InMemoryDatabase
from tests.unit.conftest import START

pytestmark = pytest.mark.anyio

SHOP = 121038


@pytest.fixture
def db() -> InMemoryDatabase:
    return InMemoryDatabase()


@pytest.fixture
def forgotten() -> list[tuple[int, str]]:
    return []


@pytest.fixture
def routes(db: InMemoryDatabase, forgotten: list[tuple[int, str]]) -> ManageRoutes:
    providers = ProviderDirectory(
        {"kaspi": FakeProvider("kaspi"), "cards": FakeProvider("cards", credential_names=("secret_key",))}
    )
    return ManageRoutes(
        uow=db.unit_of_work, clock=FixedClock(START), on_change=[lambda *key: forgotten.append(key)], providers=providers
    )


def kaspi(**changes: Any) -> RouteSpec:
    return RouteSpec(shop_id=SHOP, provider="kaspi", merchant_account="920317450731", **changes)


def cards(**changes: Any) -> RouteSpec:
    fields: dict[str, Any] = {"credentials": {"secret_key": "sk_1"}}
    return RouteSpec(shop_id=SHOP, provider="cards", merchant_account="acct_1", **(fields | changes))


async def test_a_new_default_unsets_the_shops_other_default(
    routes: ManageRoutes, db: InMemoryDatabase, forgotten: list[tuple[int, str]]
) -> None:
    await routes.add(kaspi(is_default=True))
    forgotten.clear()

    await routes.add(cards(is_default=True), actor="ops")

    assert (db.routes[(SHOP, "kaspi")].is_default, db.routes[(SHOP, "cards")].is_default) == (False, True)
    assert sorted(forgotten) == [(SHOP, "cards"), (SHOP, "kaspi")]  # both cached routes dropped
    assert [(e.provider, e.actor) for e in db.audit_of("route_update")] == [("kaspi", "ops")]


async def test_marking_an_existing_route_default_moves_the_default(routes: ManageRoutes, db: InMemoryDatabase) -> None:
    await routes.add(kaspi(is_default=True))
    await routes.add(cards())

    await routes.change(SHOP, "cards", RouteChange(is_default=True))

    assert [r.provider for r in db.routes.values() if r.is_default] == ["cards"]


async def test_a_re_run_import_without_defaults_leaves_the_default_alone(routes: ManageRoutes, db: InMemoryDatabase) -> None:
    await routes.add(kaspi(is_default=True))
    audited = len(db.audit)

    await routes.put(kaspi())

    assert db.routes[(SHOP, "kaspi")].is_default
    assert len(db.audit) == audited


async def test_a_credential_the_provider_does_not_know_is_refused(routes: ManageRoutes, db: InMemoryDatabase) -> None:
    with pytest.raises(InvalidValue) as refused:
        await routes.add(cards(credentials={"secretkey": "sk_1"}))

    assert refused.value.field == "credentials.secretkey"
    assert "sk_1" not in str(refused.value)
    assert db.routes == {}


@pytest.mark.parametrize("value", ["", "a\nb", "x" * 513])
async def test_an_empty_or_unprintable_credential_is_refused(routes: ManageRoutes, value: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        await routes.add(cards(credentials={"secret_key": value}))

    assert refused.value.field == "credentials.secret_key"


async def test_a_route_for_a_provider_this_gateway_does_not_run_is_refused(routes: ManageRoutes) -> None:
    with pytest.raises(ProviderNotConfigured):
        await routes.add(RouteSpec(shop_id=SHOP, provider="strpie", merchant_account="acct_1"))
