"""Steps of features/payments.feature."""

from __future__ import annotations

from typing import Any

from pytest_bdd import given, parsers, scenarios, then, when

from tests.acceptance.client import GatewayClient
from tests.acceptance.conftest import remember

scenarios("payments.feature")


@given(parsers.parse("shop {shop:d} has been deactivated"))
def deactivated(gateway: GatewayClient, shop: int) -> None:
    assert gateway.deactivate_config(shop).status_code == 200


@given("Kaspi is timing out")
def kaspi_times_out(gateway: GatewayClient) -> None:
    response = gateway.sandbox.post("/knobs", json={"fault": "timeout", "fault_count": 1})
    assert response.status_code == 200, response.text


@when(parsers.parse('the marketplace bills {amount:d} tenge to phone "{phone}" for shop {shop:d}'))
def bills(gateway: GatewayClient, story: dict[str, Any], amount: int, phone: str, shop: int) -> None:
    response = remember(story, gateway.create_payment(shop, amount, phone))
    if response.status_code == 200:
        story["external_id"] = response.json()["external_id"]


@when(
    parsers.parse(
        'the marketplace bills {amount:d} tenge to phone "{phone}" for shop {shop:d} with idempotency key "{key}"'
    )
)
def bills_with_key(gateway: GatewayClient, story: dict[str, Any], amount: int, phone: str, shop: int, key: str) -> None:
    story["request"] = (shop, amount, phone)
    story["first"] = remember(story, gateway.create_payment(shop, amount, phone, idempotency_key=key))


@when(parsers.parse('the marketplace repeats that request with idempotency key "{key}"'))
def repeats(gateway: GatewayClient, story: dict[str, Any], key: str) -> None:
    shop, amount, phone = story["request"]
    story["second"] = remember(story, gateway.create_payment(shop, amount, phone, idempotency_key=key))


@when(parsers.parse("the customer {action} the payment in Kaspi"))
def customer_acts(gateway: GatewayClient, story: dict[str, Any], action: str) -> None:
    verb = {"approves": "approve", "declines": "decline"}[action]
    assert gateway.customer(verb, story["external_id"]).status_code == 200


@when(parsers.parse("the marketplace asks for a {amount:d} tenge payment link for shop {shop:d}"))
def asks_for_link(gateway: GatewayClient, story: dict[str, Any], amount: int, shop: int) -> None:
    remember(story, gateway.create_link(shop, amount, "Bouquet"))


@then("the bill waits for the customer")
def waits(story: dict[str, Any]) -> None:
    response = story["response"]
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Wait"
    assert len(response.json()["external_id"]) == 11


@then(parsers.parse("Kaspi was asked to pay organisation {organization_bin}"))
def kaspi_asked(gateway: GatewayClient, story: dict[str, Any], organization_bin: str) -> None:
    assert story["response"].json()["organization_bin"] == organization_bin
    assert gateway.simulated_payment(story["external_id"])["organizationBin"] == organization_bin


@then(parsers.parse('the payment status is "{status}"'))
def payment_status(gateway: GatewayClient, story: dict[str, Any], status: str) -> None:
    response = gateway.status(story["external_id"])
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "external_id": story["external_id"], "status": status}


@then(parsers.parse("it gets a Kaspi payment link for organisation {organization_bin}"))
def gets_link(story: dict[str, Any], organization_bin: str) -> None:
    response = story["response"]
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["payment_link"].startswith("https://pay.kaspi.kz/pay/")
    assert body["organization_bin"] == organization_bin
    assert body["expire_date"]
    story["external_id"] = body["payment_id"]


@then("the customer can pay through the link")
def pays_through_link(gateway: GatewayClient, story: dict[str, Any]) -> None:
    assert gateway.customer("approve", story["external_id"]).status_code == 200
    assert gateway.status(story["external_id"]).json()["status"] == "Processed"


@then("both answers name the same payment")
def same_payment(story: dict[str, Any]) -> None:
    first, second = story["first"], story["second"]
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json() == second.json()


@then("Kaspi received exactly one bill")
def one_bill(gateway: GatewayClient, story: dict[str, Any]) -> None:
    payments = gateway.sandbox.get("/payments").json()["payments"]
    assert [p["externalId"] for p in payments] == [story["first"].json()["external_id"]]


@then("the request fails with an unknown outcome")
def unknown_outcome(story: dict[str, Any]) -> None:
    response = story["response"]
    assert response.status_code == 504, response.text
    assert response.json()["error"]["code"] == "provider_outcome_unknown"
    story["payment_id"] = response.json()["error"]["reference"]


@then("the payment is kept pending, not failed")
def kept_pending(gateway: GatewayClient, story: dict[str, Any]) -> None:
    entries = gateway.logs(121038, limit=5).json()
    attempt = next(e for e in entries if e["payment_id"] == story["payment_id"])
    assert attempt["status"] == "pending"
    assert "outcome unknown" in attempt["error_message"]
