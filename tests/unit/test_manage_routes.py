"""Seller routes: a bad BIN never gets stored, and every change is audited with who made it."""

from __future__ import annotations

from typing import Any

import pytest

from domain.audit import Outcome
from domain.errors import InvalidValue
from domain.money import Money
from domain.payment import PaymentMethod

from application.create_payment import CreatePaymentCommand
from application.errors import RouteAlreadyExists, ShopInactive, ShopNotFound
from application.manage_routes import RouteChange, RouteSpec

from tests.support.core import InMemoryGateway
from tests.unit.conftest import START

pytestmark = pytest.mark.anyio

SANTINI, SANTINI_BIN = 75509, "860214400107"
GERIM_BIN = "960514451575"
TOKEN = "3f1b7a52-0c1e-4a52-8a3b-6f3f0b8f2d10"


def santini(**changes: Any) -> RouteSpec:
    fields: dict[str, Any] = {
        "shop_id": SANTINI,
        "provider": "kaspi",
        "merchant_account": SANTINI_BIN,
        "credentials": {"device_token": TOKEN},
    }
    return RouteSpec(**{**fields, **changes})


async def test_an_added_route_is_stored_and_audited_with_the_actor(gateway: InMemoryGateway) -> None:
    route = await gateway.manage_routes.add(santini(), actor="admin:ops")

    assert gateway.db.routes[(SANTINI, "kaspi")] == route
    assert (route.organization_bin, route.credentials.get("device_token"), route.is_active) == (
        SANTINI_BIN, TOKEN, True,
    )
    [entry] = gateway.db.audit
    assert (entry.operation_type, entry.status, entry.actor) == ("route_add", Outcome.SUCCESS, "admin:ops")
    assert (entry.shop_id, entry.organization_bin, entry.provider, entry.created_at) == (
        SANTINI, SANTINI_BIN, "kaspi", START,
    )


@pytest.mark.parametrize("bad_bin", ["860214400108", "86021440010", "8602144001O7", ""])
async def test_a_route_with_a_bad_bin_is_refused_and_not_stored(gateway: InMemoryGateway, bad_bin: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        await gateway.manage_routes.add(santini(merchant_account=bad_bin), actor="admin:ops")

    assert refused.value.field == "organization_bin"
    assert (SANTINI, "kaspi") not in gateway.db.routes
    assert gateway.db.audit_of("route_add") == []


@pytest.mark.parametrize("shop_id", [0, -5, True])
async def test_a_route_for_an_impossible_shop_id_is_refused(gateway: InMemoryGateway, shop_id: object) -> None:
    with pytest.raises(InvalidValue):
        await gateway.manage_routes.add(santini(shop_id=shop_id))
    assert gateway.db.audit == []


async def test_another_providers_account_is_taken_as_named_but_never_empty(gateway: InMemoryGateway) -> None:
    route = await gateway.manage_routes.add(santini(provider="yookassa", merchant_account="acct_1", credentials={}))
    assert route.merchant_account == "acct_1"
    with pytest.raises(InvalidValue):
        await gateway.manage_routes.add(santini(provider="yookassa", merchant_account=""))


async def test_a_second_route_for_the_same_shop_and_provider_is_refused(gateway: InMemoryGateway) -> None:
    await gateway.manage_routes.add(santini())
    with pytest.raises(RouteAlreadyExists):
        await gateway.manage_routes.add(santini(merchant_account=GERIM_BIN))

    assert gateway.db.routes[(SANTINI, "kaspi")].merchant_account == SANTINI_BIN
    assert len(gateway.db.audit_of("route_add")) == 1


async def test_a_change_merges_credentials_and_is_audited_with_the_actor(gateway: InMemoryGateway) -> None:
    await gateway.manage_routes.add(santini(provider="yookassa", merchant_account="shop-1", credentials={"secret_key": "live_1"}))
    gateway.clock.set(START.replace(hour=13))
    route = await gateway.manage_routes.change(
        SANTINI, "yookassa", RouteChange(credentials={"shop_key": "7"}), actor="admin:lead"
    )

    stored = gateway.db.routes[(SANTINI, "yookassa")]
    assert stored == route
    assert (stored.merchant_account, dict(stored.credentials.values)) == (
        "shop-1", {"secret_key": "live_1", "shop_key": "7"},
    )
    assert (stored.created_at, stored.updated_at) == (START, START.replace(hour=13))
    entry = gateway.db.audit[-1]
    assert (entry.operation_type, entry.actor, entry.organization_bin) == ("route_update", "admin:lead", "shop-1")


async def test_a_change_to_a_bad_bin_is_refused_and_changes_nothing(gateway: InMemoryGateway) -> None:
    before = await gateway.manage_routes.add(santini())
    with pytest.raises(InvalidValue):
        await gateway.manage_routes.change(SANTINI, "kaspi", RouteChange(merchant_account="180340021792"))

    assert gateway.db.routes[(SANTINI, "kaspi")] == before
    assert [e.operation_type for e in gateway.db.audit] == ["route_add"]


async def test_changing_a_route_that_does_not_exist_is_refused(gateway: InMemoryGateway) -> None:
    with pytest.raises(ShopNotFound):
        await gateway.manage_routes.change(SANTINI, "kaspi", RouteChange(is_active=False))
    assert gateway.db.audit == []


async def test_a_deactivated_shop_can_no_longer_take_payments(gateway: InMemoryGateway) -> None:
    await gateway.manage_routes.add(santini())
    await gateway.manage_routes.deactivate(SANTINI, "kaspi", actor="admin:ops")

    assert gateway.db.routes[(SANTINI, "kaspi")].is_active is False
    assert (gateway.db.audit[-1].operation_type, gateway.db.audit[-1].actor) == ("route_deactivate", "admin:ops")
    with pytest.raises(ShopInactive):
        await gateway.create.execute(
            CreatePaymentCommand(shop_id=SANTINI, provider="kaspi", method=PaymentMethod.LINK, amount=Money(100, "KZT"))
        )


async def test_put_adds_a_missing_route_and_aligns_an_existing_one(gateway: InMemoryGateway) -> None:
    await gateway.manage_routes.put(santini(), actor="import")
    await gateway.manage_routes.put(santini(merchant_account=GERIM_BIN, is_active=False), actor="import")

    stored = gateway.db.routes[(SANTINI, "kaspi")]
    assert (stored.merchant_account, stored.is_active, stored.credentials.get("device_token")) == (
        GERIM_BIN, False, TOKEN,
    )
    assert [(e.operation_type, e.actor) for e in gateway.db.audit] == [
        ("route_add", "import"), ("route_update", "import"),
    ]


async def test_every_change_tells_the_route_caches(gateway: InMemoryGateway) -> None:
    routes = gateway.manage_routes
    await routes.add(santini())
    await routes.deactivate(SANTINI, "kaspi")
    with pytest.raises(InvalidValue):
        await routes.change(SANTINI, "kaspi", RouteChange(merchant_account="1"))
    assert gateway.routes.forgotten == [(SANTINI, "kaspi"), (SANTINI, "kaspi")]


async def test_routes_are_read_back_singly_and_by_provider(gateway: InMemoryGateway) -> None:
    await gateway.manage_routes.add(santini())
    await gateway.manage_routes.add(santini(provider="yookassa", merchant_account="acct_1", credentials={}))

    assert (await gateway.manage_routes.get(SANTINI, "yookassa")).merchant_account == "acct_1"
    assert {r.shop_id for r in await gateway.manage_routes.list(provider="kaspi")} == {SANTINI, 121038, 576631}
    assert [r.provider for r in await gateway.manage_routes.list(provider="yookassa")] == ["yookassa"]
    with pytest.raises(ShopNotFound):
        await gateway.manage_routes.get(SANTINI, "stripe")


async def test_a_route_never_shows_its_secrets(gateway: InMemoryGateway) -> None:
    route = await gateway.manage_routes.add(santini())
    assert TOKEN not in repr(route)
    assert TOKEN not in repr(gateway.db.audit)
