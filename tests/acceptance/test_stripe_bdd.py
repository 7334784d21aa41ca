"""Steps of features/stripe.feature: Stripe on its simulator, which signs and sends its events to the gateway."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from tests.acceptance.client import GatewayClient
from tests.acceptance.conftest import remember

scenarios("stripe.feature")

CONNECTED_ACCOUNT = "acct_1EileenFlowers"
# The simulator's names for the signatures a test can ask it to send.
SIGNATURES = {"forged": "forged", "stale": "stale", "missing": "none"}


@pytest.fixture
def stripe_sandbox(gateway: GatewayClient) -> Iterator[httpx.Client]:
    """The Stripe simulator's controls (the customer's side), mounted on the gateway under test."""
    with httpx.Client(base_url=f"{str(gateway.http.base_url).rstrip('/')}/sandbox/stripe", timeout=10) as client:
        yield client


def stored(gateway: GatewayClient, story: dict[str, Any]) -> dict[str, Any]:
    """The payment as Paygate holds it, read without asking Stripe (a listing never refreshes)."""
    response = gateway.v1_payments_for_order(story["order_id"])
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()["data"]
    [payment] = [p for p in listed if p["id"] == story["payment"]["id"]]
    return payment


def stripe_calls(stripe_sandbox: httpx.Client) -> list[dict[str, Any]]:
    response = stripe_sandbox.get("/control/requests")
    assert response.status_code == 200, response.text
    calls: list[dict[str, Any]] = response.json()
    return calls


def status_changes(gateway: GatewayClient, story: dict[str, Any]) -> list[dict[str, Any]]:
    response = gateway.logs(121038)
    assert response.status_code == 200, response.text
    return [
        log
        for log in response.json()
        if log["payment_id"] == story["payment"]["id"] and log["operation_type"] == "status_change"
    ]


def bill(gateway: GatewayClient, story: dict[str, Any], amount: int, shop: int, **fields: Any) -> None:
    story["order_id"] = f"order-{uuid.uuid4().hex[:12]}"
    response = remember(
        story,
        gateway.create_v1_payment(
            shop_id=shop, provider="stripe", amount=amount, currency="USD", order_id=story["order_id"], **fields
        ),
    )
    assert response.status_code == 201, response.text
    story["payment"] = response.json()


# Given


@given(parsers.parse("shop {shop:d} takes card payments on its own Stripe account"))
def takes_stripe(gateway: GatewayClient, shop: int) -> None:
    response = gateway.add_route(shop_id=shop, provider="stripe", merchant_account=CONNECTED_ACCOUNT, credentials={})
    assert response.status_code == 201, response.text


# When


@when(parsers.parse("the marketplace bills {amount:d} cents for shop {shop:d} at Stripe"))
def bills(gateway: GatewayClient, story: dict[str, Any], amount: int, shop: int) -> None:
    bill(gateway, story, amount, shop)


@when(parsers.parse("the marketplace authorises {amount:d} cents for shop {shop:d} at Stripe, to capture later"))
def authorises(gateway: GatewayClient, story: dict[str, Any], amount: int, shop: int) -> None:
    bill(gateway, story, amount, shop, capture=False)


def customer_acts(stripe_sandbox: httpx.Client, story: dict[str, Any], action: str, **options: str) -> list[dict[str, Any]]:
    """The customer's side at the simulated Stripe (`pay`, `decline`), its events delivered to Paygate at once."""
    response = stripe_sandbox.post(
        f"/control/payment_intents/{story['payment']['external_id']}/{action}", json={**options, "notify": True}
    )
    assert response.status_code == 200, response.text
    deliveries: list[dict[str, Any]] = response.json()["deliveries"]
    assert deliveries and all(d["status_code"] == 200 for d in deliveries), deliveries
    return deliveries


@when("the customer pays by card and Stripe tells Paygate")
def customer_pays(stripe_sandbox: httpx.Client, story: dict[str, Any]) -> None:
    story["delivered"] = customer_acts(stripe_sandbox, story, "pay")


@when("the customer pays with Apple Pay and Stripe tells Paygate")
def customer_pays_with_apple_pay(stripe_sandbox: httpx.Client, story: dict[str, Any]) -> None:
    customer_acts(stripe_sandbox, story, "pay", wallet="apple_pay")


@when("the customer's card is declined and Stripe tells Paygate")
def card_declined(stripe_sandbox: httpx.Client, story: dict[str, Any]) -> None:
    deliveries = customer_acts(stripe_sandbox, story, "decline")
    assert [d["type"] for d in deliveries] == ["payment_intent.payment_failed"], deliveries


@when("Stripe tells Paygate the same thing again")
def redelivers(stripe_sandbox: httpx.Client, story: dict[str, Any]) -> None:
    event_id = story["delivered"][-1]["event_id"]
    response = stripe_sandbox.post(f"/control/events/{event_id}/deliver", json={})
    assert response.status_code == 200, response.text
    story["redelivery"] = response.json()


@when(parsers.parse("someone sends a message with a {signature} signature claiming the customer paid"))
def sends_bad_message(stripe_sandbox: httpx.Client, story: dict[str, Any], signature: str) -> None:
    response = stripe_sandbox.post(
        f"/control/payment_intents/{story['payment']['external_id']}/webhook",
        json={"type": "payment_intent.succeeded", "status": "succeeded", "signature": SIGNATURES[signature]},
    )
    assert response.status_code == 200, response.text
    story["delivery"] = response.json()


@when(parsers.parse("the marketplace refunds {amount:d} cents of the Stripe payment"))
def refunds(gateway: GatewayClient, story: dict[str, Any], amount: int) -> None:
    response = remember(story, gateway.v1_refund(story["payment"]["id"], amount))
    assert response.status_code == 201, response.text
    assert (response.json()["amount"], response.json()["status"]) == (amount, "succeeded")


@when("Stripe holds the next refund as pending")
def refunds_pending(stripe_sandbox: httpx.Client) -> None:
    response = stripe_sandbox.post("/control/knobs", json={"refund_status": "pending"})
    assert response.status_code == 200, response.text


@when(parsers.parse("the marketplace refunds {amount:d} cents of the Stripe payment, which Stripe holds as pending"))
def refunds_held_pending(gateway: GatewayClient, story: dict[str, Any], amount: int) -> None:
    response = remember(story, gateway.v1_refund(story["payment"]["id"], amount))
    assert response.status_code == 201, response.text
    refund = response.json()
    assert (refund["amount"], refund["status"], refund["status_source"]) == (amount, "pending", "api"), refund
    assert refund["external_id"].startswith("re_")
    story["refund"] = refund


@when(parsers.parse("the Stripe refund {outcome} and Stripe tells Paygate"))
def refund_settles_told(stripe_sandbox: httpx.Client, story: dict[str, Any], outcome: str) -> None:
    settle_refund(stripe_sandbox, story, outcome, notify=True)


@when(parsers.parse("the Stripe refund {outcome} and Stripe tells nobody"))
def refund_settles_quietly(stripe_sandbox: httpx.Client, story: dict[str, Any], outcome: str) -> None:
    settle_refund(stripe_sandbox, story, outcome, notify=False)


def settle_refund(stripe_sandbox: httpx.Client, story: dict[str, Any], outcome: str, *, notify: bool) -> None:
    action = {"succeeded": "succeed", "failed": "fail"}[outcome]
    response = stripe_sandbox.post(f"/control/refunds/{story['refund']['external_id']}/{action}", json={"notify": notify})
    assert response.status_code == 200, response.text
    deliveries = response.json()["deliveries"]
    assert all(d["status_code"] == 200 for d in deliveries), deliveries
    assert bool(deliveries) is notify


@when("the marketplace captures the Stripe payment")
def captures(gateway: GatewayClient, story: dict[str, Any]) -> None:
    response = remember(story, gateway.v1_capture(story["payment"]["id"]))
    assert response.status_code == 200, response.text


# Then


@then("the customer's browser gets what it needs to pay")
def browser_gets_client_secret(story: dict[str, Any]) -> None:
    payment = story["payment"]
    assert payment["method"] == "card"
    assert payment["external_id"].startswith("pi_")
    assert payment["client_secret"].startswith(f"{payment['external_id']}_secret_")


@then("the Stripe payment waits for the customer")
@then("the Stripe payment still waits for the customer")
def waits(gateway: GatewayClient, story: dict[str, Any]) -> None:
    payment = stored(gateway, story)
    assert (payment["status"], payment["provider_status"]) == ("pending", "requires_payment_method"), payment
    assert status_changes(gateway, story) == []


@then("the Stripe payment has succeeded as Stripe's message says, Paygate asking Stripe only how it was paid")
def succeeded_by_webhook(gateway: GatewayClient, stripe_sandbox: httpx.Client, story: dict[str, Any]) -> None:
    payment = stored(gateway, story)
    assert (payment["status"], payment["wallet"]) == ("succeeded", None)  # a plain card
    # The create, then one look at the PaymentIntent's Charge (which wallet paid, if one did): the
    # signed message alone settled it.
    calls = [(c["method"], c["path"]) for c in stripe_calls(stripe_sandbox)]
    assert calls == [("POST", "/v1/payment_intents"), ("GET", f"/v1/payment_intents/{payment['external_id']}")]
    [change] = status_changes(gateway, story)
    assert change["actor"] == "webhook:stripe"


@then("the Stripe payment has succeeded, paid with Apple Pay")
def succeeded_with_apple_pay(gateway: GatewayClient, story: dict[str, Any]) -> None:
    payment = stored(gateway, story)
    assert (payment["status"], payment["status_source"], payment["wallet"]) == ("succeeded", "webhook:stripe", "apple_pay")
    assert len(status_changes(gateway, story)) == 1


@then("the Stripe payment still waits for the customer, noting that the card was declined")
def waits_noting_the_decline(gateway: GatewayClient, story: dict[str, Any]) -> None:
    payment = stored(gateway, story)
    assert (payment["status"], payment["provider_status"]) == ("pending", "requires_payment_method"), payment
    assert payment["error"] == {"code": "card_declined", "message": "declined: Your card was declined. (insufficient_funds)"}
    assert status_changes(gateway, story) == []


@then("the Stripe payment has succeeded, with no decline left on it")
def succeeded_without_the_decline(gateway: GatewayClient, story: dict[str, Any]) -> None:
    payment = stored(gateway, story)
    assert (payment["status"], payment["error"]) == ("succeeded", None)


@then("the Stripe payment has succeeded")
def succeeded(gateway: GatewayClient, story: dict[str, Any]) -> None:
    assert stored(gateway, story)["status"] == "succeeded"


@then("the Stripe payment is authorised")
def authorised(gateway: GatewayClient, story: dict[str, Any]) -> None:
    payment = stored(gateway, story)
    assert (payment["status"], payment["provider_status"], payment["capture"]) == (
        "authorized",
        "requires_capture",
        False,
    )


@then(parsers.parse("the customer got {refunded:d} cents back at Stripe and {left:d} cents can still be refunded"))
def refunded(
    gateway: GatewayClient, stripe_sandbox: httpx.Client, story: dict[str, Any], refunded: int, left: int
) -> None:
    payment = stored(gateway, story)
    assert payment["status"] == "partially_refunded"
    assert (payment["refunds"]["refunded"], payment["refunds"]["refundable"]) == (refunded, left)
    simulated = stripe_sandbox.get(f"/control/payment_intents/{payment['external_id']}").json()
    assert (simulated["account"], simulated["refunded"]) == (CONNECTED_ACCOUNT, refunded)


@then(parsers.parse("{amount:d} cents of the Stripe payment can be refunded"))
def can_be_refunded(gateway: GatewayClient, story: dict[str, Any], amount: int) -> None:
    assert stored(gateway, story)["refunds"]["refundable"] == amount


@then(parsers.parse("the Stripe refund is pending with its {amount:d} cents held back"))
def refund_pending(gateway: GatewayClient, story: dict[str, Any], amount: int) -> None:
    payment = gateway.v1_payment(story["payment"]["id"]).json()
    assert payment["status"] == "succeeded"
    assert (payment["refunds"]["refunded"], payment["refunds"]["pending"]) == (0, amount)
    assert [r["status"] for r in payment["refunds"]["items"]] == ["pending"]


@then(parsers.parse('the Stripe refund has {outcome}, as told by "{source}"'))
def refund_settled(gateway: GatewayClient, story: dict[str, Any], outcome: str, source: str) -> None:
    payment = gateway.v1_payment(story["payment"]["id"]).json()
    [refund] = payment["refunds"]["items"]
    assert (refund["status"], refund["status_source"]) == (outcome, source), refund
    amount = story["refund"]["amount"]
    refunded = amount if outcome == "succeeded" else 0
    assert (payment["refunds"]["refunded"], payment["refunds"]["pending"]) == (refunded, 0)
    assert payment["refunds"]["refundable"] == payment["amount"] - refunded
    assert payment["status"] == ("partially_refunded" if refunded else "succeeded")
    entries = [
        e for e in gateway.logs(121038).json()
        if e["refund_id"] == refund["id"] and e["status"] != "pending"
    ]
    assert [(e["operation_type"], e["status"], e["source"]) for e in entries] == [
        ("refund", "success" if refunded else "error", source)
    ]


@then("the second message is acknowledged as already handled")
def acknowledged_duplicate(story: dict[str, Any]) -> None:
    redelivery = story["redelivery"]
    assert redelivery["status_code"] == 200, redelivery
    assert '"duplicate"' in redelivery["body"], redelivery


@then("the Stripe payment changed status once")
def changed_once(gateway: GatewayClient, story: dict[str, Any]) -> None:
    assert stored(gateway, story)["status"] == "succeeded"
    assert len(status_changes(gateway, story)) == 1


@then("the message is rejected")
def rejected(story: dict[str, Any]) -> None:
    delivery = story["delivery"]
    assert delivery["status_code"] == 400, delivery
    assert '"webhook_rejected"' in delivery["body"], delivery
