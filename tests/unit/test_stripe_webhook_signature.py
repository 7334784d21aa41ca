"""Stripe's webhook signature (HMAC-SHA256 over "{t}.{body}", tolerance, rotation) and what an event says."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stripe

from domain.payment import PaymentStatus
from domain.refund import RefundStatus

from application.errors import WebhookRejected
from application.ports import ProviderNotice, ProviderPayment, RefundNotice

from adapters.providers.stripe.webhooks import StripeWebhooks, notices_of

from simulators.stripe.state import SimulatedEvent, signed_event
from tests.fakes.system import FixedClock

SECRET = "whsec_current_5f0e1d2c3b4a"
OLD_SECRET = "whsec_previous_0a1b2c3d4e5f"
NOW = datetime(2025, 10, 22, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())


def intent(status: str, **fields: Any) -> dict[str, Any]:
    return {"id": "pi_3Paid", "object": "payment_intent", "status": status, "amount": 5000, "currency": "usd", **fields}


def event(
    event_type: str = "payment_intent.succeeded", obj: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    return {
        "id": "evt_3First",
        "object": "event",
        "type": event_type,
        "data": {"object": obj if obj is not None else intent("succeeded")},
        **fields,
    }


def body_of(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def header(body: bytes, secret: str = SECRET, at: int = T) -> str:
    """What Stripe sends, as Stripe's own library writes it for tests."""
    signature: str = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=at)
    return signature


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def webhooks(clock: FixedClock) -> StripeWebhooks:
    return StripeWebhooks(secrets=[SECRET, OLD_SECRET], clock=clock)


def rejected(webhooks: StripeWebhooks, body: bytes, signature: str | None) -> str:
    with pytest.raises(WebhookRejected) as refusal:
        webhooks.notices(body, signature)
    assert refusal.value.code == "webhook_rejected"
    return refusal.value.reason


# --- The signature --------------------------------------------------------------------------------


def test_an_event_signed_by_stripe_is_accepted(webhooks: StripeWebhooks) -> None:
    body = body_of(event())

    [notice] = webhooks.notices(body, header(body))

    assert (notice.provider, notice.external_id, notice.event_id) == ("stripe", "pi_3Paid", "evt_3First")


def test_an_event_signed_with_the_previous_secret_is_accepted_during_a_rotation(webhooks: StripeWebhooks) -> None:
    body = body_of(event())

    assert webhooks.notices(body, header(body, OLD_SECRET))


def test_any_matching_v1_signature_is_enough(webhooks: StripeWebhooks) -> None:
    body = body_of(event())
    good = header(body).split(",v1=")[1]
    forged = "0" * 64

    assert webhooks.notices(body, f"t={T},v1={forged},v1={good},v0={forged}")


def test_a_signature_under_another_secret_is_rejected(webhooks: StripeWebhooks) -> None:
    body = body_of(event())

    assert "no signature matches" in rejected(webhooks, body, header(body, "whsec_someone_else"))


def test_a_body_changed_after_signing_is_rejected(webhooks: StripeWebhooks) -> None:
    body = body_of(event())
    signature = header(body)
    tampered = body.replace(b'"succeeded"', b'"canceled"', 1)

    assert tampered != body
    rejected(webhooks, tampered, signature)


def test_a_timestamp_changed_after_signing_is_rejected(webhooks: StripeWebhooks) -> None:
    body = body_of(event())
    signature = header(body).replace(f"t={T}", f"t={T + 1}")

    rejected(webhooks, body, signature)


def test_a_signature_older_than_five_minutes_is_rejected(webhooks: StripeWebhooks, clock: FixedClock) -> None:
    body = body_of(event())
    signature = header(body)

    clock.advance(timedelta(seconds=300))
    assert webhooks.notices(body, signature)  # exactly the tolerance still passes
    clock.advance(timedelta(seconds=1))
    assert "old" in rejected(webhooks, body, signature)


def test_a_signature_from_a_clock_slightly_ahead_is_accepted_as_stripe_accepts_it(
    webhooks: StripeWebhooks, clock: FixedClock
) -> None:
    body = body_of(event())

    assert webhooks.notices(body, header(body, at=T + 60))


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "v1=" + "0" * 64,  # no timestamp
        f"t={T},t={T},v1=" + "0" * 64,  # two timestamps
        "t=soon,v1=" + "0" * 64,
        f"t={T}",  # no signature
        f"t={T},v0=" + "0" * 64,  # only the old test scheme
        f"t={T},v1=XYZ",
        "t=" + "9" * 5000,
    ],
)
def test_an_unreadable_signature_header_is_rejected(webhooks: StripeWebhooks, signature: str | None) -> None:
    rejected(webhooks, body_of(event()), signature)


def test_without_a_configured_secret_every_event_is_rejected(clock: FixedClock) -> None:
    body = body_of(event())

    reason = rejected(StripeWebhooks(secrets=["", ""], clock=clock), body, header(body))

    assert "STRIPE_WEBHOOK_SECRETS" in reason


def test_a_signed_body_that_is_not_a_stripe_event_is_rejected(webhooks: StripeWebhooks) -> None:
    for body in (b"not json", b"[]", body_of({"object": "payment_intent", "id": "pi_3X"})):
        rejected(webhooks, body, header(body))


def test_the_simulator_signs_as_stripe_does() -> None:
    simulated = SimulatedEvent(
        id="evt_3Sim", type="payment_intent.succeeded", account="acct_1X", created=T, object=intent("succeeded")
    )

    body, headers = signed_event(simulated, SECRET)

    # Stripe's own verification (with its own clock) accepts it; so does ours.
    constructed = stripe.Webhook.construct_event(body.decode(), headers["Stripe-Signature"], SECRET)
    assert constructed.id == "evt_3Sim"
    assert StripeWebhooks(secrets=[SECRET], clock=FixedClock(datetime.now(UTC))).notices(
        body, headers["Stripe-Signature"]
    )
    for bad in ("forged", "stale"):
        body, headers = signed_event(simulated, SECRET, signature=bad)
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(body.decode(), headers["Stripe-Signature"], SECRET)


# --- What an event says -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "status", "outcome"),
    [
        ("payment_intent.succeeded", "succeeded", PaymentStatus.SUCCEEDED),
        ("payment_intent.amount_capturable_updated", "requires_capture", PaymentStatus.AUTHORIZED),
        ("payment_intent.canceled", "canceled", PaymentStatus.CANCELLED),
    ],
)
def test_a_settled_payment_intent_is_applied_as_the_event_shows_it(
    event_type: str, status: str, outcome: PaymentStatus
) -> None:
    [notice] = notices_of(event(event_type, intent(status, cancellation_reason="abandoned")))

    assert isinstance(notice.observed, ProviderPayment)
    assert (notice.observed.provider_status, notice.observed.outcome) == (status, outcome)


def test_a_cancellation_says_why() -> None:
    [notice] = notices_of(event("payment_intent.canceled", intent("canceled", cancellation_reason="abandoned")))

    assert notice.observed is not None and notice.observed.failure_reason == "cancelled: abandoned"


@pytest.mark.parametrize(
    ("event_type", "status", "asks"),
    [
        ("payment_intent.succeeded", "succeeded", True),
        ("payment_intent.amount_capturable_updated", "requires_capture", True),
        ("payment_intent.canceled", "canceled", False),  # no money taken: no wallet paid
    ],
)
def test_money_taken_asks_for_the_wallet_an_event_names_only_by_its_charge_id(
    event_type: str, status: str, asks: bool
) -> None:
    """An event's PaymentIntent names its Charge by id: which wallet paid is one fetch away."""
    [notice] = notices_of(event(event_type, intent(status, latest_charge="ch_3Paid")))

    assert isinstance(notice, ProviderNotice) and isinstance(notice.observed, ProviderPayment)
    assert notice.observed.wallet is None
    assert notice.fetch_details is asks


def test_a_snapshot_with_its_charge_expanded_tells_the_wallet_without_asking() -> None:
    charge = {"id": "ch_3Paid", "object": "charge",
              "payment_method_details": {"type": "card", "card": {"wallet": {"type": "google_pay", "google_pay": {}}}}}

    [notice] = notices_of(event(obj=intent("succeeded", latest_charge=charge)))

    assert isinstance(notice, ProviderNotice) and isinstance(notice.observed, ProviderPayment)
    assert notice.observed.wallet == "google_pay"
    assert notice.fetch_details is False


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        ("payment_intent.payment_failed", "requires_payment_method"),
        ("payment_intent.processing", "processing"),
        ("payment_intent.requires_action", "requires_action"),
    ],
)
def test_a_still_open_payment_intent_is_only_a_hint_to_fetch_it_again(event_type: str, status: str) -> None:
    # Events arrive out of order: "payment failed" may be older than the authorisation we already hold.
    [notice] = notices_of(event(event_type, intent(status)))

    assert (notice.external_id, notice.event_id, notice.observed) == ("pi_3Paid", "evt_3First", None)


@pytest.mark.parametrize(
    ("event_type", "status", "outcome"),
    [
        ("refund.created", "pending", RefundStatus.PENDING),
        ("refund.updated", "requires_action", RefundStatus.PENDING),
        ("refund.updated", "succeeded", RefundStatus.SUCCEEDED),
        ("charge.refund.updated", "succeeded", RefundStatus.SUCCEEDED),
        ("refund.failed", "failed", RefundStatus.FAILED),
        ("refund.updated", "canceled", RefundStatus.FAILED),
    ],
)
def test_a_refund_event_tells_the_refund_as_it_stands(event_type: str, status: str, outcome: RefundStatus) -> None:
    refund = {"id": "re_3Back", "object": "refund", "status": status, "metadata": {"paygate_refund_id": "re_ours"}}
    if status == "failed":
        refund["failure_reason"] = "expired_or_canceled_card"

    [notice] = notices_of(event(event_type, refund))

    assert isinstance(notice, RefundNotice)
    assert (notice.external_id, notice.refund_id, notice.event_id) == ("re_3Back", "re_ours", "evt_3First")
    assert notice.observed is not None and notice.observed.status is outcome
    assert (notice.observed.failure_reason is not None) is (outcome is RefundStatus.FAILED)
    if status == "failed":
        assert "expired_or_canceled_card" in (notice.observed.failure_reason or "")


def test_a_refund_event_without_a_readable_refund_is_rejected() -> None:
    with pytest.raises(WebhookRejected):
        notices_of(event("refund.updated", {"id": "re_3X", "object": "refund"}))


@pytest.mark.parametrize("event_type", ["charge.refunded", "payment_intent.created", "customer.created"])
def test_other_events_are_acknowledged_and_change_nothing(event_type: str) -> None:
    assert notices_of(event(event_type, {"id": "re_3X", "object": "refund"})) == []


@pytest.mark.parametrize(
    "obj", [None, {"object": "payment_intent", "status": "succeeded"}, {"object": "charge", "id": "ch_1"}]
)
def test_a_payment_intent_event_without_a_readable_payment_intent_is_rejected(obj: dict[str, Any] | None) -> None:
    document = event("payment_intent.succeeded")
    document["data"] = {"object": obj} if obj is not None else {}

    with pytest.raises(WebhookRejected):
        notices_of(document)
