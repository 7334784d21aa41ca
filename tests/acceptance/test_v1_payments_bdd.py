"""Steps of features/v1_payments.feature: the provider-neutral payments API."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from entrypoints import cli

from tests.acceptance.client import GatewayClient
from tests.acceptance.conftest import remember

scenarios("v1_payments.feature")

PHONE = "+7 701 521 15 45"
SANDBOX_SECRET = "sk_sandbox_acceptance_51c0"


def created(story: dict[str, Any], response: Any) -> dict[str, Any]:
    remember(story, response)
    assert response.status_code == 201, response.text
    payment: dict[str, Any] = response.json()
    story["payment"] = payment
    return payment


def current(gateway: GatewayClient, story: dict[str, Any]) -> dict[str, Any]:
    response = gateway.v1_payment(story["payment"]["id"])
    assert response.status_code == 200, response.text
    payment: dict[str, Any] = response.json()
    return payment


def sandbox_card(gateway: GatewayClient, shop: int, amount: int, **fields: Any) -> Any:
    return gateway.create_v1_payment(shop_id=shop, provider="sandbox", method="card", amount=amount, currency="KZT", **fields)


# Given


@given(parsers.parse("shop {shop:d} also takes card payments through the sandbox"))
def takes_sandbox(gateway: GatewayClient, shop: int) -> None:
    response = gateway.add_route(
        shop_id=shop, provider="sandbox", merchant_account=f"sbx-{shop}", credentials={"secret_key": SANDBOX_SECRET}
    )
    assert response.status_code == 201, response.text
    assert SANDBOX_SECRET not in response.text


@given(parsers.parse("shop {shop:d} was paid {amount:d} tiyn at Kaspi"))
def paid_at_kaspi(gateway: GatewayClient, story: dict[str, Any], shop: int, amount: int) -> None:
    bills_at_kaspi(gateway, story, amount, PHONE, shop)
    assert gateway.customer("approve", story["payment"]["external_id"]).status_code == 200
    assert current(gateway, story)["status"] == "succeeded"


@given(parsers.parse('order "{order}" of shop {shop:d} was declined once and then paid'))
def declined_then_paid(gateway: GatewayClient, story: dict[str, Any], order: str, shop: int) -> None:
    declined = sandbox_card(gateway, shop, 5000, order_id=order, metadata={"sandbox_outcome": "card_declined"})
    assert declined.status_code == 402, declined.text
    story["declined_id"] = declined.json()["error"]["reference"]
    story["paid_id"] = created(story, sandbox_card(gateway, shop, 5000, order_id=order))["id"]


@given(parsers.parse('customer "{customer}" paid {count:d} times at shop {shop:d}'))
def customer_paid(gateway: GatewayClient, story: dict[str, Any], customer: str, count: int, shop: int) -> None:
    story["customer_payments"] = [
        created(story, sandbox_card(gateway, shop, 1000 * (n + 1), customer_id=customer))["id"] for n in range(count)
    ]


@given(parsers.parse("an API key that reaches only shop {shop:d}"))
def restricted_key(gateway: GatewayClient, story: dict[str, Any], shop: int, request: pytest.FixtureRequest) -> None:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(["keys", "create", "--name", "one-shop", "--scope", "payments", "--shop", str(shop)]) == 0
    client = GatewayClient(str(gateway.http.base_url).rstrip("/"), printed.getvalue().strip())
    request.addfinalizer(client.close)
    story["restricted"] = client


# When


@when(parsers.parse('the marketplace bills {amount:d} tiyn to phone "{phone}" for shop {shop:d} at Kaspi'))
def bills_at_kaspi(gateway: GatewayClient, story: dict[str, Any], amount: int, phone: str, shop: int) -> None:
    created(story, gateway.create_v1_payment(shop_id=shop, provider="kaspi", amount=amount, currency="KZT", phone=phone))


@when(parsers.parse("the marketplace asks for a {amount:d} tiyn Kaspi payment link for shop {shop:d}"))
def asks_for_link(gateway: GatewayClient, story: dict[str, Any], amount: int, shop: int) -> None:
    created(story, gateway.create_v1_payment(shop_id=shop, provider="kaspi", method="link", amount=amount, currency="KZT"))


@when("the customer approves the payment in Kaspi")
def customer_approves(gateway: GatewayClient, story: dict[str, Any]) -> None:
    assert gateway.customer("approve", story["payment"]["external_id"]).status_code == 200


@when(parsers.parse("the marketplace refunds {amount:d} tiyn of the payment"))
def refunds(gateway: GatewayClient, story: dict[str, Any], amount: int) -> None:
    response = remember(story, gateway.v1_refund(story["payment"]["id"], amount))
    assert response.status_code == 201, response.text
    assert (response.json()["amount"], response.json()["status"]) == (amount, "succeeded")


@when(parsers.parse("the marketplace authorises {amount:d} tiyn for shop {shop:d} at the sandbox, to capture later"))
def authorises(gateway: GatewayClient, story: dict[str, Any], amount: int, shop: int) -> None:
    created(story, sandbox_card(gateway, shop, amount, capture=False))


@when(parsers.parse("the marketplace bills {amount:d} tiyn for shop {shop:d} at the sandbox to a card without enough money"))
def bills_poor_card(gateway: GatewayClient, story: dict[str, Any], amount: int, shop: int) -> None:
    remember(story, sandbox_card(gateway, shop, amount, metadata={"sandbox_outcome": "insufficient_funds"}))


@when("the marketplace captures the payment")
def captures(gateway: GatewayClient, story: dict[str, Any]) -> None:
    response = remember(story, gateway.v1_capture(story["payment"]["id"]))
    if response.status_code == 200:
        story["payment"] = response.json()


@when("the marketplace cancels the payment")
def cancels(gateway: GatewayClient, story: dict[str, Any]) -> None:
    response = remember(story, gateway.v1_cancel(story["payment"]["id"]))
    assert response.status_code == 200, response.text
    story["payment"] = response.json()


@when(parsers.parse('the marketplace reads the history of customer "{customer}" {size:d} payments at a time'))
def reads_history(gateway: GatewayClient, story: dict[str, Any], customer: str, size: int) -> None:
    pages: list[dict[str, Any]] = []
    cursor = None
    while len(pages) < 10:  # bounded: a cursor that never ends fails below instead of looping
        response = gateway.v1_payments_for_customer(customer, cursor=cursor, limit=size)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    story["pages"] = pages


@when("that key asks for the payment")
def restricted_reads(story: dict[str, Any]) -> None:
    remember(story, story["restricted"].v1_payment(story["payment"]["id"]))


@when("that key asks to refund the payment")
def restricted_refunds(story: dict[str, Any]) -> None:
    remember(story, story["restricted"].v1_refund(story["payment"]["id"], 100))


# Then


@then("the payment waits for the customer")
def waits(gateway: GatewayClient, story: dict[str, Any]) -> None:
    payment = current(gateway, story)
    assert (payment["status"], payment["provider"], payment["provider_status"]) == ("pending", "kaspi", "Wait")
    assert (payment["amount"], payment["currency"], payment["merchant_account"]) == (500000, "KZT", "920317450731")


@then("the payment has succeeded")
def succeeded(gateway: GatewayClient, story: dict[str, Any]) -> None:
    assert current(gateway, story)["status"] == "succeeded"


@then("the payment is authorised")
def authorised(gateway: GatewayClient, story: dict[str, Any]) -> None:
    payment = current(gateway, story)
    assert (payment["status"], payment["capture"]) == ("authorized", False)
    assert payment["client_secret"], "a card payment gives the browser its client secret"


@then("the payment is cancelled")
def cancelled(gateway: GatewayClient, story: dict[str, Any]) -> None:
    assert current(gateway, story)["status"] == "cancelled"


@then(parsers.parse("{refunded:d} tiyn of the payment are refunded and {left:d} tiyn can still be refunded"))
def refunded_so_far(gateway: GatewayClient, story: dict[str, Any], refunded: int, left: int) -> None:
    payment = current(gateway, story)
    assert payment["status"] == "partially_refunded"
    assert payment["refunds"]["refunded"] == refunded
    assert payment["refunds"]["refundable"] == left
    assert [r["amount"] for r in payment["refunds"]["items"]] == [refunded]
    assert gateway.simulated_payment(payment["external_id"])["refunded"] * 100 == refunded


@then(parsers.parse("{amount:d} tiyn of the payment can be refunded"))
def refundable(gateway: GatewayClient, story: dict[str, Any], amount: int) -> None:
    assert current(gateway, story)["refunds"]["refundable"] == amount


@then("the customer gets a Kaspi link and its QR code")
def link_and_qr(story: dict[str, Any]) -> None:
    payment = story["payment"]
    assert payment["payment_link"].startswith("https://pay.kaspi.kz/pay/")
    assert payment["qr"] == payment["payment_link"]
    assert payment["expires_at"] is not None


@then(parsers.parse('the declined payment failed for "{reason}"'))
def declined_for(gateway: GatewayClient, story: dict[str, Any], reason: str) -> None:
    reference = story["response"].json()["error"]["reference"]
    payment = gateway.v1_payment(reference).json()
    assert payment["status"] == "failed"
    assert payment["error"]["code"] == reason


@then(parsers.parse('order "{order}" has {count:d} payments, the paid one first'))
def order_payments(gateway: GatewayClient, story: dict[str, Any], order: str, count: int) -> None:
    response = gateway.v1_payments_for_order(order)
    assert response.status_code == 200, response.text
    listed = response.json()
    assert [p["id"] for p in listed["data"]] == [story["paid_id"], story["declined_id"]][:count]
    assert [p["status"] for p in listed["data"]] == ["succeeded", "failed"]
    assert listed["next_cursor"] is None


@then(parsers.parse("the pages hold {first:d} and then {second:d} payments, newest first, with nothing left over"))
def pages_hold(story: dict[str, Any], first: int, second: int) -> None:
    pages = story["pages"]
    assert [len(page["data"]) for page in pages] == [first, second]
    listed = [p["id"] for page in pages for p in page["data"]]
    assert listed == list(reversed(story["customer_payments"]))
