"""Steps of features/cloudpayments.feature: the built-in CloudPayments simulator plays CloudPayments and the customer."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from domain.money import Money

from adapters.providers.cloudpayments import notifications

from tests.acceptance.client import GatewayClient
from tests.acceptance.conftest import remember
from tests.support.cloudpayments import CLOUDPAYMENTS_SANDBOX_PREFIX

scenarios("cloudpayments.feature")


@pytest.fixture
def cloudpayments(gateway: GatewayClient) -> Iterator[httpx.Client]:
    """The simulator's side: the seller's site, CloudPayments' records and the notifications it sent."""
    client = httpx.Client(base_url=str(gateway.http.base_url.join(CLOUDPAYMENTS_SANDBOX_PREFIX)), timeout=10)
    yield client
    client.close()


def kopecks(roubles: str) -> int:
    return Money.from_major(Decimal(roubles), "RUB").minor


def recorded(gateway: GatewayClient, story: dict[str, Any]) -> dict[str, Any]:
    """The payment as Paygate stored it; an order listing never asks the provider."""
    listing = gateway.v1_payments_for_order(story["order_id"])
    assert listing.status_code == 200, listing.text
    payments: list[dict[str, Any]] = listing.json()["data"]
    assert len(payments) == 1, payments
    return payments[0]


def sent_about(cloudpayments: httpx.Client, story: dict[str, Any]) -> list[dict[str, Any]]:
    """The notifications CloudPayments sent about this payment, in order."""
    return [n for n in cloudpayments.get("/notifications").json() if n["invoice_id"] == story["payment"]["id"]]


def order(cloudpayments: httpx.Client, story: dict[str, Any]) -> dict[str, Any]:
    order_id = story["payment"]["payment_link"].rsplit("/", 1)[1]
    found = cloudpayments.get(f"/orders/{order_id}")
    assert found.status_code == 200, found.text
    order: dict[str, Any] = found.json()
    return order


def on_the_page(story: dict[str, Any], action: str) -> str:
    """The customer opens the payment link and presses a button; the page says how it went."""
    with httpx.Client(timeout=10) as browser:
        page = browser.get(story["payment"]["payment_link"])
        assert page.status_code == 200, page.text
        answer = browser.post(story["payment"]["payment_link"], data={"action": action})
    assert answer.status_code == 200, answer.text
    return answer.text


# Given


@given(parsers.parse("shop {shop:d} takes payments through its own CloudPayments site"))
def cloudpayments_route(gateway: GatewayClient, cloudpayments: httpx.Client, story: dict[str, Any], shop: int) -> None:
    public_id, api_secret = f"pk_{secrets.token_hex(12)}", secrets.token_urlsafe(24)
    # The seller's site at CloudPayments, notifying this Paygate (the simulator's default address).
    site = cloudpayments.post("/sites", json={"public_id": public_id, "api_secret": api_secret})
    assert site.status_code == 201, site.text
    response = gateway.add_route(
        shop_id=shop, provider="cloudpayments", merchant_account=public_id, credentials={"api_secret": api_secret}
    )
    assert response.status_code == 201, response.text
    assert api_secret not in response.text
    story["api_secret"] = api_secret


def bill(
    gateway: GatewayClient, story: dict[str, Any], roubles: str, order_id: str, shop: int, *, capture: bool
) -> None:
    response = remember(
        story,
        gateway.create_v1_payment(
            shop_id=shop,
            provider="cloudpayments",
            method="link",
            amount=kopecks(roubles),
            currency="RUB",
            order_id=order_id,
            customer_id="customer-77",
            description=f"Flowers, order {order_id}",
            capture=capture,
        ),
    )
    assert response.status_code == 201, response.text
    payment = response.json()
    assert (payment["status"], payment["method"]) == ("pending", "link")
    assert payment["payment_link"]
    story.update(payment=payment, order_id=order_id)


@given(
    parsers.parse(
        'the marketplace billed {roubles} roubles for order "{order_id}" of shop {shop:d} by a CloudPayments link'
    )
)
def billed(gateway: GatewayClient, story: dict[str, Any], roubles: str, order_id: str, shop: int) -> None:
    bill(gateway, story, roubles, order_id, shop, capture=True)


@given(
    parsers.parse(
        'the marketplace billed {roubles} roubles for order "{order_id}" of shop {shop:d} by a CloudPayments link, '
        "to be captured later"
    )
)
def billed_two_step(gateway: GatewayClient, story: dict[str, Any], roubles: str, order_id: str, shop: int) -> None:
    bill(gateway, story, roubles, order_id, shop, capture=False)


@given("the customer's card was declined on the link's page")
def card_declined(story: dict[str, Any]) -> None:
    assert "Declined" in on_the_page(story, "decline")


# When


@when("the customer pays on the link's page")
def customer_pays(story: dict[str, Any]) -> None:
    story["page"] = on_the_page(story, "pay")


@when("the customer tries again on the same page")
def customer_tries_again(story: dict[str, Any]) -> None:
    story["page"] = on_the_page(story, "pay")


@when(parsers.parse("the seller refunds {roubles} roubles of the payment"))
def seller_refunds(gateway: GatewayClient, story: dict[str, Any], roubles: str) -> None:
    response = remember(story, gateway.v1_refund(story["payment"]["id"], kopecks(roubles)))
    assert response.status_code == 201, response.text


@when("the seller captures the payment")
def seller_captures(gateway: GatewayClient, story: dict[str, Any]) -> None:
    response = remember(story, gateway.v1_capture(story["payment"]["id"]))
    assert response.status_code == 200, response.text


@when("a notification that the payment succeeded arrives, signed with a key that is not the seller's")
def forged_notification(gateway: GatewayClient, story: dict[str, Any]) -> None:
    payment = story["payment"]
    fields = {
        "TransactionId": 912_345_678,
        "Amount": Money(payment["amount"], payment["currency"]).major,
        "Currency": payment["currency"],
        "InvoiceId": payment["id"],
        "Status": "Completed",
        "OperationType": "Payment",
    }
    body, content_type = notifications.encode(fields, notifications.FORM)
    forged = notifications.sign(body, story["api_secret"] + "-guessed")
    remember(
        story,
        gateway.http.post(
            "/webhooks/cloudpayments/pay",
            content=body,
            headers={"Content-Type": content_type, "Content-HMAC": forged, "X-Content-HMAC": forged},
        ),
    )


# Then


@then("CloudPayments asked Paygate before taking the money, and Paygate agreed")
def check_agreed(cloudpayments: httpx.Client, story: dict[str, Any]) -> None:
    sent = sent_about(cloudpayments, story)
    assert [(n["kind"], n["status_code"], n["code"]) for n in sent] == [("check", 200, 0), ("pay", 200, 0)]


@then("CloudPayments asked Paygate again before taking the money, and Paygate agreed")
def check_agreed_again(cloudpayments: httpx.Client, story: dict[str, Any]) -> None:
    last_attempt = sent_about(cloudpayments, story)[-2:]
    assert [(n["kind"], n["code"]) for n in last_attempt] == [("check", 0), ("pay", 0)]
    assert "Completed" in story["page"]


@then("the payment has succeeded on CloudPayments' signed word")
def succeeded_by_notification(gateway: GatewayClient, story: dict[str, Any]) -> None:
    assert recorded(gateway, story)["status"] == "succeeded"
    changes = [
        e for e in gateway.logs(story["payment"]["shop_id"]).json() if e["operation_type"] == "status_change"
    ]
    assert [(e["payment_id"], e["actor"]) for e in changes] == [(story["payment"]["id"], "webhook:cloudpayments")]


@then("the payment has succeeded")
def succeeded(gateway: GatewayClient, story: dict[str, Any]) -> None:
    assert recorded(gateway, story)["status"] == "succeeded"


@then("the payment is still pending, with the decline noted")
def pending_with_decline(gateway: GatewayClient, story: dict[str, Any]) -> None:
    payment = recorded(gateway, story)
    assert (payment["status"], payment["provider_status"]) == ("pending", "Declined")
    assert payment["error"]["code"] == "reason_5051"


@then("the payment is authorized, waiting for the seller")
def authorized(gateway: GatewayClient, story: dict[str, Any]) -> None:
    payment = recorded(gateway, story)
    assert (payment["status"], payment["provider_status"]) == ("authorized", "Authorized")


@then("Paygate's records still show the payment pending")
def still_pending(gateway: GatewayClient, story: dict[str, Any]) -> None:
    payment = recorded(gateway, story)
    assert (payment["status"], payment["provider_status"]) == ("pending", "Created")
    changes = [e for e in gateway.logs(payment["shop_id"]).json() if e["operation_type"] == "status_change"]
    assert changes == []


@then("the notification is refused as forged")
def refused_forged(story: dict[str, Any]) -> None:
    response = story["response"]
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_signature"


@then(parsers.parse("the payment is partially refunded, {roubles} roubles back to the customer"))
def partially_refunded(story: dict[str, Any], roubles: str) -> None:
    payment = story["response"].json()["payment"]
    assert payment["status"] == "partially_refunded"
    assert payment["refunds"]["refunded"] == kopecks(roubles)


@then(parsers.parse("CloudPayments returned {roubles} roubles to the customer"))
def cloudpayments_refunded(cloudpayments: httpx.Client, story: dict[str, Any], roubles: str) -> None:
    [paid] = [t for t in order(cloudpayments, story)["Transactions"] if t["Status"] == "Completed"]
    assert Decimal(str(paid["RefundAmount"])) == Decimal(roubles)


@then(parsers.parse("CloudPayments charged the customer {roubles} roubles"))
@then(parsers.parse("CloudPayments charged the customer {roubles} roubles, once"))
def cloudpayments_charged(cloudpayments: httpx.Client, story: dict[str, Any], roubles: str) -> None:
    [paid] = [t for t in order(cloudpayments, story)["Transactions"] if t["Status"] == "Completed"]
    assert Decimal(str(paid["Amount"])) == Decimal(roubles)
