"""Steps of features/yookassa.feature: the gateway's built-in YooKassa simulator plays YooKassa and the customer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from tests.acceptance.client import GatewayClient
from tests.acceptance.conftest import remember
from tests.support.yookassa import YOOKASSA_SANDBOX_PREFIX, new_shop

scenarios("yookassa.feature")

RETURN_URL = "https://cvety.example/orders/done"
YOOKASSA_ADDRESS = "185.71.76.10"  # one of the addresses YooKassa publishes for its notifications
STRANGER_ADDRESS = "203.0.113.9"


@pytest.fixture
def yookassa(gateway: GatewayClient) -> Iterator[httpx.Client]:
    """The simulator's side: YooKassa's records, the customer's checkout page, notifications."""
    client = httpx.Client(base_url=str(gateway.http.base_url.join(YOOKASSA_SANDBOX_PREFIX)), timeout=10)
    yield client
    client.close()


def webhook_url(gateway: GatewayClient) -> str:
    return str(gateway.http.base_url.join("/webhooks/yookassa"))


def lookups(yookassa: httpx.Client, external_id: str) -> int:
    """How often Paygate asked YooKassa's API about the payment."""
    seen = yookassa.get("/requests").json()
    return sum(1 for r in seen if r["method"] == "GET" and r["path"].endswith(f"/v3/payments/{external_id}"))


def recorded(gateway: GatewayClient, story: dict[str, Any]) -> dict[str, Any]:
    """The payment as Paygate stored it; an order listing never asks the provider."""
    listing = gateway.v1_payments_for_order(story["order_id"])
    assert listing.status_code == 200, listing.text
    payments: list[dict[str, Any]] = listing.json()["data"]
    assert len(payments) == 1, payments
    return payments[0]


def forged_success(external_id: str) -> bytes:
    notification = {
        "type": "notification",
        "event": "payment.succeeded",
        "object": {"id": external_id, "status": "succeeded", "paid": True, "amount": {"value": "599.00", "currency": "RUB"}},
    }
    return json.dumps(notification).encode()


# Given


@given(parsers.parse("shop {shop:d} takes payments through its own YooKassa shop"))
def yookassa_route(gateway: GatewayClient, yookassa: httpx.Client, story: dict[str, Any], shop: int) -> None:
    shop_id, secret_key = new_shop()
    assert yookassa.post("/shops", json={"shop_id": shop_id, "secret_key": secret_key}).status_code == 201
    response = gateway.add_route(
        shop_id=shop, provider="yookassa", merchant_account=shop_id, credentials={"secret_key": secret_key}
    )
    assert response.status_code == 201, response.text
    assert secret_key not in response.text


def bill(gateway: GatewayClient, story: dict[str, Any], roubles: int, order: str, shop: int, *, capture: bool) -> None:
    response = remember(
        story,
        gateway.create_v1_payment(
            shop_id=shop, provider="yookassa", amount=roubles * 100, currency="RUB", order_id=order,
            description=f"Flowers, order {order}", return_url=RETURN_URL, capture=capture,
        ),
    )
    assert response.status_code == 201, response.text
    payment = response.json()
    assert (payment["status"], payment["method"]) == ("pending", "redirect")
    assert payment["checkout_url"].startswith(str(gateway.http.base_url.join(f"{YOOKASSA_SANDBOX_PREFIX}/checkout/")))
    story.update(payment=payment, order_id=order, external_id=payment["external_id"])


@given(parsers.parse('the marketplace billed {roubles:d} roubles for order "{order}" of shop {shop:d} through YooKassa'))
def billed(gateway: GatewayClient, story: dict[str, Any], roubles: int, order: str, shop: int) -> None:
    bill(gateway, story, roubles, order, shop, capture=True)


@given(
    parsers.parse(
        'the marketplace billed {roubles:d} roubles for order "{order}" of shop {shop:d} through YooKassa, '
        "to be captured later"
    )
)
def billed_two_step(gateway: GatewayClient, story: dict[str, Any], roubles: int, order: str, shop: int) -> None:
    bill(gateway, story, roubles, order, shop, capture=False)


@given("the customer paid on YooKassa's page")
@when("the customer pays on YooKassa's page")
def customer_pays(story: dict[str, Any]) -> None:
    with httpx.Client(timeout=10) as browser:
        page = browser.get(story["payment"]["checkout_url"])
        assert page.status_code == 200, page.text
        answer = browser.post(story["payment"]["checkout_url"], data={"action": "pay"})
    assert answer.status_code == 303 and answer.headers["location"] == RETURN_URL


# When


@when("YooKassa notifies Paygate about the payment")
def yookassa_notifies(gateway: GatewayClient, yookassa: httpx.Client, story: dict[str, Any]) -> None:
    story["lookups"] = lookups(yookassa, story["external_id"])
    sent = yookassa.post(
        "/notify", json={"payment_id": story["external_id"], "url": webhook_url(gateway), "source": YOOKASSA_ADDRESS}
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["notification"]["status"] == 200, sent.text


@when("a notification that the payment succeeded arrives from outside YooKassa's networks")
def stranger_notifies(gateway: GatewayClient, yookassa: httpx.Client, story: dict[str, Any]) -> None:
    story["lookups"] = lookups(yookassa, story["external_id"])
    # Through the trusted proxy, which says who really sent it; the sender's own claim comes first.
    headers = {"X-Forwarded-For": f"{YOOKASSA_ADDRESS}, {STRANGER_ADDRESS}", "Content-Type": "application/json"}
    remember(story, httpx.post(webhook_url(gateway), content=forged_success(story["external_id"]), headers=headers))


@when(
    "a notification that the payment succeeded arrives from YooKassa's network, though the customer never paid"
)
def false_notification(gateway: GatewayClient, yookassa: httpx.Client, story: dict[str, Any]) -> None:
    story["lookups"] = lookups(yookassa, story["external_id"])
    headers = {"X-Forwarded-For": YOOKASSA_ADDRESS, "Content-Type": "application/json"}
    response = remember(
        story, httpx.post(webhook_url(gateway), content=forged_success(story["external_id"]), headers=headers)
    )
    assert response.status_code == 200, response.text


@when(parsers.parse("the seller refunds {roubles:d} roubles of the payment"))
def seller_refunds(gateway: GatewayClient, story: dict[str, Any], roubles: int) -> None:
    response = remember(story, gateway.v1_refund(story["payment"]["id"], roubles * 100))
    assert response.status_code == 201, response.text


@given("YooKassa holds the next refund as pending")
def refunds_pending(yookassa: httpx.Client) -> None:
    assert yookassa.post("/knobs", json={"refund_status": "pending"}).status_code == 200


@when(parsers.parse("the seller refunds {roubles:d} roubles of the payment, which YooKassa holds as pending"))
def seller_refunds_pending(gateway: GatewayClient, story: dict[str, Any], roubles: int) -> None:
    response = remember(story, gateway.v1_refund(story["payment"]["id"], roubles * 100))
    assert response.status_code == 201, response.text
    refund = response.json()
    assert (refund["status"], refund["status_source"]) == ("pending", "api"), refund
    assert refund["external_id"], "YooKassa's refund id is kept from its first answer"
    story["refund"] = refund


@when(parsers.parse("YooKassa's refund {outcome} and YooKassa notifies Paygate"))
def refund_settles_notified(gateway: GatewayClient, yookassa: httpx.Client, story: dict[str, Any], outcome: str) -> None:
    story["refund_lookups"] = refund_lookups(yookassa, story["refund"]["external_id"])
    settle_refund(yookassa, story, outcome, notify={"url": webhook_url(gateway), "source": YOOKASSA_ADDRESS})


@when(parsers.parse("YooKassa's refund {outcome} and YooKassa tells nobody"))
def refund_settles_quietly(yookassa: httpx.Client, story: dict[str, Any], outcome: str) -> None:
    settle_refund(yookassa, story, outcome, notify=None)


def settle_refund(yookassa: httpx.Client, story: dict[str, Any], outcome: str, *, notify: dict[str, str] | None) -> None:
    action = {"succeeded": "succeed", "failed": "fail"}[outcome]
    options = {"notify": True, **notify} if notify else {"notify": False}
    response = yookassa.post(f"/refunds/{story['refund']['external_id']}/{action}", json=options)
    assert response.status_code == 200, response.text
    delivered = response.json()["notification"]
    assert (delivered is not None) is bool(notify)
    if delivered is not None:
        assert (delivered["event"], delivered["status"]) == ("refund.succeeded", 200), delivered


def refund_lookups(yookassa: httpx.Client, refund_id: str) -> int:
    seen = yookassa.get("/requests").json()
    return sum(1 for r in seen if r["method"] == "GET" and r["path"].endswith(f"/v3/refunds/{refund_id}"))


@when("the seller captures the payment")
def seller_captures(gateway: GatewayClient, story: dict[str, Any]) -> None:
    response = remember(story, gateway.v1_capture(story["payment"]["id"]))
    assert response.status_code == 200, response.text


# Then


@then("Paygate looked the payment up at YooKassa")
def looked_up(yookassa: httpx.Client, story: dict[str, Any]) -> None:
    assert lookups(yookassa, story["external_id"]) > story["lookups"]


@then("Paygate looked the refund up at YooKassa")
def looked_up_refund(yookassa: httpx.Client, story: dict[str, Any]) -> None:
    assert refund_lookups(yookassa, story["refund"]["external_id"]) > story["refund_lookups"]


@then(parsers.parse("the refund is pending at YooKassa with its {roubles:d} roubles held back"))
def refund_pending(gateway: GatewayClient, story: dict[str, Any], roubles: int) -> None:
    payment = gateway.v1_payment(story["payment"]["id"]).json()
    assert payment["status"] == "succeeded"
    assert (payment["refunds"]["refunded"], payment["refunds"]["pending"]) == (0, roubles * 100)


@then(parsers.parse('the refund has {outcome}, as told by "{source}"'))
def refund_settled(gateway: GatewayClient, story: dict[str, Any], outcome: str, source: str) -> None:
    payment = gateway.v1_payment(story["payment"]["id"]).json()
    [refund] = payment["refunds"]["items"]
    assert (refund["status"], refund["status_source"]) == (outcome, source), refund
    refunded = refund["amount"] if outcome == "succeeded" else 0
    assert (payment["refunds"]["refunded"], payment["refunds"]["pending"]) == (refunded, 0)
    assert payment["status"] == ("partially_refunded" if refunded else "succeeded")


@then("Paygate did not look the payment up at YooKassa")
def not_looked_up(yookassa: httpx.Client, story: dict[str, Any]) -> None:
    assert lookups(yookassa, story["external_id"]) == story["lookups"]


@then("the payment has succeeded")
def succeeded(gateway: GatewayClient, story: dict[str, Any]) -> None:
    assert recorded(gateway, story)["status"] == "succeeded"


@then("the payment is authorized, waiting for the seller")
def authorized(gateway: GatewayClient, story: dict[str, Any]) -> None:
    payment = recorded(gateway, story)
    assert (payment["status"], payment["provider_status"]) == ("authorized", "waiting_for_capture")


@then("Paygate's records still show the payment pending")
def still_pending(gateway: GatewayClient, story: dict[str, Any]) -> None:
    payment = recorded(gateway, story)
    assert (payment["status"], payment["provider_status"]) == ("pending", "pending")


@then("the notification is refused as coming from a stranger")
def refused_stranger(story: dict[str, Any]) -> None:
    response = story["response"]
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "webhook_source_not_allowed"


@then(parsers.parse("the payment is partially refunded, {roubles:d} roubles back to the customer"))
def partially_refunded(story: dict[str, Any], roubles: int) -> None:
    payment = story["response"].json()["payment"]
    assert payment["status"] == "partially_refunded"
    assert payment["refunds"]["refunded"] == roubles * 100


@then(parsers.parse("YooKassa returned {roubles:d} roubles to the customer"))
def yookassa_returned(yookassa: httpx.Client, story: dict[str, Any], roubles: int) -> None:
    simulated = yookassa.get(f"/payments/{story['external_id']}").json()
    assert simulated["refunded_amount"] == {"value": f"{roubles}.00", "currency": "RUB"}
