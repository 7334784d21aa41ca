"""The acceptance harness: a real gateway on 127.0.0.1 with the Kaspi simulator, and shared steps."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_bdd import given, parsers, then, when

from entrypoints import cli
from entrypoints.http.app import create_app
from entrypoints.http.slow_clients import limited_http_protocol

from config.container import build_container
from config.settings import Settings

from tests.acceptance.client import GatewayClient
from tests.acceptance.crm import CrmReceiver, PaygatePoller, ScenarioClock
from tests.support.servers import free_port, serve

DEMO_SELLERS = Path(__file__).resolve().parents[2] / "demo" / "sellers.csv"


def gateway_environment(database_url: str, port: int) -> dict[str, str]:
    """The environment of the gateway under test: every provider on its simulator."""
    return {
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "PRODUCTION_API_URL": "simulator",
        "KASPI_TIMEOUT_SECONDS": "0.5",
        # Every sandbox card is approved unless a scenario asks otherwise (its `sandbox_outcome`).
        "SANDBOX_PROVIDER": "on",
        "SANDBOX_SUCCESS_RATE": "1",
        "SANDBOX_SEED": "1",
        "CLOUDPAYMENTS_API_URL": "simulator",
        "CLOUDPAYMENTS_TIMEOUT_SECONDS": "2",
        "YOOKASSA_API_URL": "simulator",
        "YOOKASSA_TIMEOUT_SECONDS": "2",
        # Stripe on its simulator, which delivers its signed events to this gateway's /webhooks/stripe.
        "STRIPE_API_URL": "simulator",
        "STRIPE_TIMEOUT_SECONDS": "2",
        # As behind a reverse proxy on this host: a test stands for YooKassa by sending the address
        # it would come from in X-Forwarded-For, which only a trusted proxy's word makes believable.
        "TRUSTED_PROXIES": "127.0.0.1",
        # The scenarios' CRM listens on 127.0.0.1 over http, as in the demo.
        "WEBHOOK_ALLOW_HTTP": "true",
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
    }


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GatewayClient]:
    """A fresh gateway per scenario: its own SQLite file, the demo sellers, an API key."""
    port = free_port()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'paygate.db'}"
    key_file = tmp_path / "api-key"
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PRODUCTION_API_URL", "simulator")  # the demo sellers are Kaspi's
    assert cli.main(["demo", "init", "--sellers", str(DEMO_SELLERS), "--key-file", str(key_file)]) == 0
    settings = Settings.from_env(gateway_environment(database_url, port))
    with serve(create_app(build_container(settings)), port=port, http=limited_http_protocol(settings)) as base_url:
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
    shops = {config["shop_id"] for config in gateway.configs().json()}
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


# --- The marketplace's CRM and Paygate's poller (features/poller.feature, features/webhooks.feature)


@pytest.fixture
def scenario_clock() -> ScenarioClock:
    return ScenarioClock()


@pytest.fixture
def crm(scenario_clock: ScenarioClock) -> Iterator[CrmReceiver]:
    receiver = CrmReceiver(scenario_clock)
    yield receiver
    receiver.stop()


@pytest.fixture
def paygate_poller(gateway: GatewayClient, scenario_clock: ScenarioClock) -> PaygatePoller:
    """The poller as another process beside the served gateway: same database, same simulator."""
    environment = gateway_environment(os.environ["DATABASE_URL"], gateway.http.base_url.port or 0)
    return PaygatePoller(Settings.from_env(environment), scenario_clock)


@given(parsers.parse("the marketplace's CRM listens for \"{event_type}\" notifications"))
def crm_listens(gateway: GatewayClient, crm: CrmReceiver, event_type: str) -> None:
    crm.start()
    response = gateway.subscribe_webhook(crm.url, [event_type])
    assert response.status_code == 201, response.text
    crm.secret = response.json()["secret"]


@given("the marketplace's CRM is down")
def crm_down(crm: CrmReceiver) -> None:
    crm.stop()


@when("the customer pays in Kaspi")
def customer_pays(gateway: GatewayClient, story: dict[str, Any]) -> None:
    assert gateway.customer("approve", story["external_id"]).status_code == 200


@when("Paygate polls once")
def polls_once(paygate_poller: PaygatePoller, story: dict[str, Any]) -> None:
    story["round"] = paygate_poller.poll_once()


@when("the CRM comes back")
def crm_back(crm: CrmReceiver) -> None:
    crm.start()


@when(parsers.re(r"(?P<amount>\d+) (?P<unit>second|minute|hour)s? pass(es)?"))
def time_passes(scenario_clock: ScenarioClock, amount: str, unit: str) -> None:
    scenario_clock.advance(timedelta(**{f"{unit}s": int(amount)}))


@then(parsers.parse('the CRM receives exactly one signed "{event_type}" notification for the payment'))
def crm_told_once(crm: CrmReceiver, story: dict[str, Any], event_type: str) -> None:
    told = crm.of_payment(story["external_id"])
    assert [n["type"] for n in told] == [event_type]
    assert crm.forged == 0
    story["notification"] = told[0]


@then("the CRM has received nothing yet")
def crm_told_nothing(crm: CrmReceiver, story: dict[str, Any]) -> None:
    assert crm.of_payment(story["external_id"]) == []
