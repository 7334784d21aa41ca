"""The acceptance harness: a real gateway on 127.0.0.1 with the Kaspi simulator, and shared steps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_bdd import given, parsers, then, when

from config.container import build_container
from config.settings import Settings
from entrypoints import cli
from entrypoints.http.app import create_app
from tests.acceptance.client import GatewayClient
from tests.support.servers import free_port, serve

DEMO_SELLERS = Path(__file__).resolve().parents[2] / "demo" / "sellers.csv"


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GatewayClient]:
    """A fresh gateway per scenario: its own SQLite file, the demo sellers, an API key."""
    port = free_port()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'paygate.db'}"
    key_file = tmp_path / "api-key"
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert cli.main(["demo", "init", "--sellers", str(DEMO_SELLERS), "--key-file", str(key_file)]) == 0
    settings = Settings(database_url=database_url, port=port, kaspi_timeout_seconds=0.5)
    with serve(create_app(build_container(settings)), port=port) as base_url:
        client = GatewayClient(base_url, key_file.read_text().strip())
        yield client
        client.close()


@pytest.fixture
def story() -> dict[str, Any]:
    """What the scenario has seen so far: the last answer, the payment it is about."""
    return {}


def remember(story: dict[str, Any], response: httpx.Response) -> httpx.Response:
    story["response"] = response
    return response


# Given


@given("the marketplace's demo sellers are set up")
def demo_sellers(gateway: GatewayClient) -> None:
    shops = {config["shop_id"] for config in gateway.configs().json()["configs"]}
    assert {121038, 576631, 75509, 69292, 49237, 56195, 71691, 8} <= shops


@given(parsers.parse('the marketplace billed {amount:d} tenge to phone "{phone}" for shop {shop:d}'))
def billed(gateway: GatewayClient, story: dict[str, Any], amount: int, phone: str, shop: int) -> None:
    response = remember(story, gateway.create_payment(shop, amount, phone))
    assert response.status_code == 200, response.text
    story["external_id"] = response.json()["external_id"]


@given(parsers.parse('shop {shop:d} was paid {amount:d} tenge by phone "{phone}"'))
def paid(gateway: GatewayClient, story: dict[str, Any], amount: int, phone: str, shop: int) -> None:
    billed(gateway, story, amount, phone, shop)
    assert gateway.customer("approve", story["external_id"]).status_code == 200
    assert gateway.status(story["external_id"]).json()["status"] == "Processed"


# When


@when(parsers.parse("shop {shop:d} refunds {amount:d} tenge"))
def refunds(gateway: GatewayClient, story: dict[str, Any], shop: int, amount: int) -> None:
    remember(story, gateway.refund(shop, story["external_id"], amount))


# Then


@then(parsers.parse('the request is refused as "{code}"'))
def refused(story: dict[str, Any], code: str) -> None:
    response = story["response"]
    assert 400 <= response.status_code < 500, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code, body


@then(parsers.parse('the request is refused as "{code}" on field "{field}"'))
def refused_on_field(story: dict[str, Any], code: str, field: str) -> None:
    refused(story, code)
    assert story["response"].json()["error"]["field"] == field


@then(parsers.parse("the customer got {amount:d} tenge back in total"))
def refunded_in_total(gateway: GatewayClient, story: dict[str, Any], amount: int) -> None:
    simulated = gateway.simulated_payment(story["external_id"])
    assert simulated["refunded"] == amount, simulated
