"""One declared payment type: what subscribers see (events, the CLI, exports), and the /v1 resource that
adds only what the paying client may see — secrets and links that pay never reach a subscriber."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from domain.events import EventType
from domain.money import Money
from domain.payment import Payment, PaymentMethod, PaymentStatus
from domain.refund import Refund, RefundStatus

from application.events import new_event
from application.payment_views import PaymentView, RefundView, payment_view, refund_view, render_payment

from entrypoints.http.shapes import PaymentResource, RefundWithPayment

from tests.fakes.system import SequentialIds

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SECRET = "pi_1_secret_2"
CHECKOUT = "https://checkout.example/pay/x"
LINK = "https://pay.kaspi.kz/pay/abc123"
CLIENT_ONLY = {
    "checkout_url", "client_secret", "payment_link", "qr", "qr_image_url", "pay_url", "publishable_key", "stripe_account",
}
# The /v1 payment as clients read it: every key, pinned (a field added or dropped is a decision, not an accident).
V1_FIELDS = CLIENT_ONLY | {
    "id", "shop_id", "provider", "method", "status", "provider_status", "amount", "currency", "capture",
    "description", "phone", "order_id", "customer_id", "metadata", "merchant_account", "external_id", "wallet",
    "return_url", "expires_at", "refunds", "status_source", "status_observed_at", "error", "created_at", "updated_at",
}


def stripe_payment(**changes: object) -> Payment:
    payment = Payment(
        id="pay_A", shop_id=121038, provider="stripe", method=PaymentMethod.CARD, amount=Money(1000, "USD"),
        merchant_account="acct_1", description="roses", created_at=NOW, updated_at=NOW,
        client_secret=SECRET, checkout_url=CHECKOUT, phone="77015211545", metadata={"basket": "7"},
    )
    for name, value in changes.items():
        setattr(payment, name, value)
    return payment


def kaspi_payment() -> Payment:
    return Payment(
        id="pay_K", shop_id=121038, provider="kaspi", method=PaymentMethod.LINK, amount=Money(500000, "KZT"),
        merchant_account="920317450731", description="tulips", created_at=NOW, updated_at=NOW, payment_link=LINK,
    )


def resource(payment: Payment) -> PaymentResource:
    return render_payment(
        PaymentResource, payment, None,
        checkout_url=payment.checkout_url, client_secret=payment.client_secret, payment_link=payment.payment_link,
        qr=payment.payment_link, qr_image_url="/v1/payments/x/qr.png?token=t", pay_url="/pay/x?token=t",
        publishable_key="pk_test_1", stripe_account=payment.merchant_account,
    )


def test_the_subscribers_view_declares_no_field_only_the_paying_client_may_see() -> None:
    assert set(PaymentResource.__struct_fields__) == V1_FIELDS
    assert set(PaymentView.__struct_fields__) == V1_FIELDS - CLIENT_ONLY
    assert issubclass(PaymentResource, PaymentView) and issubclass(RefundWithPayment, RefundView)


@pytest.mark.parametrize("payment", [stripe_payment(), kaspi_payment()], ids=["stripe", "kaspi"])
def test_the_v1_resource_is_the_subscribers_view_and_the_client_only_fields(payment: Payment) -> None:
    answered = msgspec.to_builtins(resource(payment))
    shared = {name: value for name, value in answered.items() if name not in CLIENT_ONLY}
    assert shared == msgspec.to_builtins(payment_view(payment))
    assert (answered["client_secret"], answered["checkout_url"], answered["payment_link"]) == (
        payment.client_secret, payment.checkout_url, payment.payment_link,
    )


@pytest.mark.parametrize("payment", [stripe_payment(), kaspi_payment()], ids=["stripe", "kaspi"])
def test_an_event_carries_no_secret_no_pay_link_and_no_whole_phone(payment: Payment) -> None:
    refund = Refund(id="re_1", payment_id=payment.id, shop_id=payment.shop_id, amount=Money(100, payment.amount.currency),
                    created_at=NOW, updated_at=NOW)
    event = new_event(SequentialIds(), EventType.REFUND_SUCCEEDED, payment, at=NOW, refund=refund, source="poller")

    text = msgspec.json.encode(dict(event.data)).decode()
    assert not CLIENT_ONLY & set(event.data["payment"])
    for secret in (SECRET, CHECKOUT, LINK, "77015211545", "/pay/"):
        assert secret not in text


def test_an_event_tells_the_payment_in_the_v1_shape() -> None:
    payment = stripe_payment(
        status=PaymentStatus.PARTIALLY_REFUNDED, refunded=Money(300, "USD"), refund_reserved=Money(200, "USD"),
        error_code="late_success", error_message="paid late", wallet="apple_pay",
    )
    event = new_event(SequentialIds(), EventType.PAYMENT_LATE_SUCCESS, payment, at=NOW)

    told = event.data["payment"]
    assert told["refunds"] == {"refunded": 300, "pending": 200, "refundable": 500}
    assert told["error"] == {"code": "late_success", "message": "paid late"}
    assert (told["phone"], told["wallet"], told["capture"], told["metadata"]) == (
        "7701*****45", "apple_pay", True, {"basket": "7"},
    )
    assert (told["created_at"], told["status_observed_at"]) == (NOW.isoformat(), None)


def test_a_refund_is_one_type_wherever_it_is_told() -> None:
    refund = Refund(id="re_1", payment_id="pay_A", shop_id=1, amount=Money(100, "USD"), created_at=NOW,
                    updated_at=NOW, reason="damaged")
    refund.fail("declined", "the card is closed", NOW, source="poller")
    event = new_event(SequentialIds(), EventType.REFUND_FAILED, stripe_payment(), at=NOW, refund=refund)

    assert event.data["refund"] == msgspec.to_builtins(refund_view(refund))
    assert (event.data["refund"]["status"], event.data["refund"]["reason"]) == (RefundStatus.FAILED.value, "damaged")
    assert event.data["refund"]["error"] == {"code": "declined", "message": "the card is closed"}
