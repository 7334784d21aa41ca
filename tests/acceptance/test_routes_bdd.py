"""Steps of features/routes.feature."""

from __future__ import annotations

from typing import Any

from pytest_bdd import parsers, scenarios, then, when

from tests.acceptance.client import GatewayClient
from tests.acceptance.conftest import remember

scenarios("routes.feature")

DEVICE_TOKEN = "9d3f6a51-8a63-4c1e-bb3c-5f0f3c1e2a77"


@when(parsers.parse("the operator connects shop {shop:d} to organisation {organization_bin}"))
def connects(gateway: GatewayClient, story: dict[str, Any], shop: int, organization_bin: str) -> None:
    remember(story, gateway.add_config(shop, organization_bin, DEVICE_TOKEN))


@when(parsers.parse("the operator moves shop {shop:d} to organisation {organization_bin}"))
def moves(gateway: GatewayClient, story: dict[str, Any], shop: int, organization_bin: str) -> None:
    response = remember(story, gateway.update_config(shop, organization_bin=organization_bin))
    assert response.status_code == 200, response.text


@when(parsers.parse("the operator deactivates shop {shop:d}"))
def deactivates(gateway: GatewayClient, story: dict[str, Any], shop: int) -> None:
    assert remember(story, gateway.deactivate_config(shop)).status_code == 200


@then(parsers.parse("shop {shop:d} is active with organisation {organization_bin}"))
def active_with(gateway: GatewayClient, shop: int, organization_bin: str) -> None:
    config = gateway.config(shop).json()
    assert (config["is_active"], config["organization_bin"]) == (True, organization_bin)


@then(parsers.parse("shop {shop:d} is inactive"))
def inactive(gateway: GatewayClient, shop: int) -> None:
    assert gateway.config(shop).json()["is_active"] is False


@then("the operator never sees the seller's device token")
def token_never_shown(gateway: GatewayClient, story: dict[str, Any]) -> None:
    for response in (story["response"], gateway.configs(), gateway.logs(424242)):
        assert DEVICE_TOKEN not in response.text
