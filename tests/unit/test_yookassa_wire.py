"""YooKassa's JSON as the adapter writes and reads it, checked against the official `yookassa` SDK's models."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from yookassa.domain.notification import WebhookNotificationFactory
from yookassa.domain.request import PaymentRequest as SdkPaymentRequest
from yookassa.domain.response import PaymentResponse, RefundListResponse, RefundResponse

from domain.money import Money
from domain.payment import PaymentStatus
from domain.refund import RefundStatus

from adapters.providers.yookassa import wire

from simulators.yookassa.app import YooKassaSimulatorState


def body(document: object) -> bytes:
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("minor", "value"), [(59900, "599.00"), (59950, "599.50"), (1, "0.01"), (10**13, "100000000000.00")]
)
def test_amounts_are_decimal_strings_with_every_minor_digit(minor: int, value: str) -> None:
    assert wire.amount_json(Money(minor, "RUB")) == {"value": value, "currency": "RUB"}
    assert wire.read_amount({"value": value, "currency": "RUB"}) == Money(minor, "RUB")


@pytest.mark.parametrize(
    "amount",
    [
        {"value": 599.0, "currency": "RUB"},  # a float is never read as money
        {"value": "599.001", "currency": "RUB"},
        {"value": "1e3", "currency": "RUB"},
        {"value": "599.00", "currency": "XXX"},
        {"value": "599.00"},
        "599.00",
    ],
)
def test_unreadable_amounts_are_none(amount: object) -> None:
    assert wire.read_amount(amount) is None


def test_the_payment_body_is_one_the_sdk_accepts() -> None:
    sent = wire.payment_body(
        amount=Money(59900, "RUB"),
        description="Roses " * 40,
        return_url="https://cvety.example/orders/1",
        capture=False,
        payment_id="pay_01",
        order_id="1001",
        metadata={"city": "Almaty"},
    )
    assert len(sent["description"]) == wire.MAX_DESCRIPTION
    assert sent["capture"] is False
    parsed = SdkPaymentRequest(sent)
    assert parsed.validate() is None
    assert parsed.confirmation.return_url == "https://cvety.example/orders/1"
    assert parsed.metadata == {"city": "Almaty", "paygate_payment_id": "pay_01", "paygate_order_id": "1001"}


def test_metadata_beyond_yookassas_limits_is_refused_before_sending() -> None:
    common: dict[str, Any] = {"amount": Money(100, "RUB"), "description": "", "return_url": "https://x.example", "capture": True}
    with pytest.raises(wire.Refused):
        wire.payment_body(payment_id="p", metadata={f"k{i}": "v" for i in range(16)}, **common)
    with pytest.raises(wire.Refused):
        wire.payment_body(payment_id="p", metadata={"k" * 33: "v"}, **common)
    with pytest.raises(wire.Refused):
        wire.payment_body(payment_id="p", metadata={"paygate_payment_id": "forged"}, **common)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("pending", PaymentStatus.PENDING),
        ("waiting_for_capture", PaymentStatus.AUTHORIZED),
        ("succeeded", PaymentStatus.SUCCEEDED),
        ("canceled", PaymentStatus.CANCELLED),
        ("something_new", PaymentStatus.PENDING),  # never guess a final state
    ],
)
def test_statuses_map_to_ours(status: str, outcome: PaymentStatus) -> None:
    assert wire.payment_status(status) is outcome


def simulated_payment(*, capture: bool = True) -> tuple[YooKassaSimulatorState, str]:
    state = YooKassaSimulatorState(shops={"100500": "secret"}, clock=lambda: datetime(2025, 10, 22, tzinfo=UTC))
    created = state.create(
        "100500",
        wire.payment_body(
            amount=Money(59900, "RUB"), description="Roses", return_url="https://cvety.example/1",
            capture=capture, payment_id="pay_01",
        ),
        lambda payment_id: f"https://sandbox.example/checkout/{payment_id}",
    )
    return state, created["id"]


def test_the_simulators_payment_objects_are_read_alike_by_the_sdk_and_the_adapter() -> None:
    state, payment_id = simulated_payment(capture=False)
    for step in (lambda: None, lambda: state.pay(payment_id), lambda: state.expire(payment_id)):
        step()
        document = state.get("100500", payment_id)
        sdk = PaymentResponse(document)
        ours = wire.read_payment(200, body(document))
        assert (ours.id, ours.status, ours.paid) == (sdk.id, sdk.status, sdk.paid)
        assert ours.amount == Money.from_major(str(sdk.amount.value), sdk.amount.currency)
    assert ours.outcome is PaymentStatus.CANCELLED
    assert ours.cancellation == wire.Cancellation("yoo_money", "expired_on_capture")
    assert sdk.cancellation_details.reason == "expired_on_capture"


def test_a_pending_payment_carries_its_confirmation_url() -> None:
    state, payment_id = simulated_payment()
    read = wire.read_payment(200, body(state.get("100500", payment_id)))
    assert read.confirmation_url == f"https://sandbox.example/checkout/{payment_id}"
    assert PaymentResponse(state.get("100500", payment_id)).confirmation.confirmation_url == read.confirmation_url


def test_the_simulators_refunds_and_notifications_are_what_the_sdk_reads() -> None:
    state, payment_id = simulated_payment()
    state.pay(payment_id)
    refund = state.refund("100500", {"payment_id": payment_id, "amount": {"value": "100.00", "currency": "RUB"}})
    assert RefundResponse(refund).payment_id == payment_id
    assert wire.read_refund(200, body(refund)).amount == Money(10000, "RUB")

    notification = state.notification(payment_id)
    parsed = WebhookNotificationFactory().create(notification)
    assert (parsed.event, parsed.object.id) == ("payment.succeeded", payment_id)
    assert wire.read_notification(body(notification)) == wire.Notification("payment.succeeded", payment_id)

    about_refund = state.notification(refund["id"], "refund.succeeded")
    parsed_refund = WebhookNotificationFactory().create(about_refund)
    assert isinstance(parsed_refund.object, RefundResponse)
    assert (parsed_refund.object.id, parsed_refund.object.payment_id) == (refund["id"], payment_id)
    assert wire.read_notification(body(about_refund)) == wire.Notification("refund.succeeded", refund["id"])


def test_a_pending_refund_keeps_its_id_and_our_metadata_and_settles_later() -> None:
    state, payment_id = simulated_payment()
    state.pay(payment_id)
    state.set_knobs(refund_status="pending")
    answer = state.refund(
        "100500",
        {"payment_id": payment_id, "amount": {"value": "100.00", "currency": "RUB"}, "metadata": {wire.REFUND_ID_KEY: "re_1"}},
    )
    read = wire.read_refund(200, body(answer))
    assert (read.status, read.outcome, read.paygate_refund_id) == ("pending", RefundStatus.PENDING, "re_1")
    assert RefundResponse(answer).status == "pending" and RefundResponse(answer).metadata == {wire.REFUND_ID_KEY: "re_1"}

    state.settle_refund(read.id, succeed=False)
    listed = wire.read_refund_list(200, body(state.list_refunds("100500", {"payment_id": payment_id})))
    [cancelled] = listed.items
    assert (cancelled.id, cancelled.outcome, listed.next_cursor) == (read.id, RefundStatus.FAILED, None)
    assert cancelled.cancellation is not None
    assert RefundListResponse(state.list_refunds("100500", {"payment_id": payment_id})).items[0].id == read.id


@pytest.mark.parametrize(
    ("status", "answer", "code"),
    [
        (400, {"type": "error", "code": "invalid_request", "description": "Bad amount", "parameter": "amount"}, "invalid_request"),
        (401, {"type": "error", "code": "invalid_credentials", "description": "Wrong key"}, "invalid_credentials"),
        (404, {"type": "error", "code": "not_found", "description": "No payment"}, "not_found"),
        (403, "<html>Forbidden</html>", "http_403"),
    ],
)
def test_client_errors_are_definite_refusals(status: int, answer: object, code: str) -> None:
    raw = body(answer) if isinstance(answer, dict) else str(answer).encode()
    with pytest.raises(wire.Refused) as refused:
        wire.read_payment(status, raw)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("status", "raw"),
    [
        (500, b'{"type": "error", "code": "internal_server_error"}'),
        (502, b"<html>Bad gateway</html>"),
        (429, b'{"type": "error", "code": "too_many_requests"}'),
        (202, b'{"type": "processing", "retry_after": 1800}'),
        (200, b"<html>oops</html>"),
        (200, b""),
        (200, b'{"id": "../refunds", "status": "succeeded"}'),
        (301, b""),
    ],
)
def test_unclear_answers_are_unknown_outcomes(status: int, raw: bytes) -> None:
    with pytest.raises(wire.OutcomeUnknown):
        wire.read_payment(status, raw)


def test_a_202_carries_yookassas_advice_in_seconds() -> None:
    with pytest.raises(wire.OutcomeUnknown) as unknown:
        wire.read_refund(202, b'{"type": "processing", "description": "Request accepted", "retry_after": 1800}')
    assert unknown.value.retry_after == 1.8


@pytest.mark.parametrize("key", ["pay_01JD5Z7", "k" * 64])
def test_keys_yookassa_takes_are_sent_as_they_are(key: str) -> None:
    assert wire.idempotence_key(key) == key


@pytest.mark.parametrize("key", ["k" * 65, "заказ-1", "tab\tkey"])
def test_other_keys_are_sent_as_their_digest(key: str) -> None:
    assert wire.idempotence_key(key) == hashlib.sha256(key.encode()).hexdigest()  # 64 characters, always the same


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"type": "notification", "event": "payment.succeeded"}',
        b'{"type": "notification", "event": "payment.succeeded", "object": {"id": "../x"}}',
        b'{"type": "something", "event": "payment.succeeded", "object": {"id": "2d9c7e6b-000f-5000-9000-1b68e7b15f3f"}}',
        b'{"type": "notification", "event": "", "object": {"id": "2d9c7e6b-000f-5000-9000-1b68e7b15f3f"}}',
        b"[]",
    ],
)
def test_what_is_not_a_notification_is_unreadable(raw: bytes) -> None:
    with pytest.raises(wire.NotificationUnreadable):
        wire.read_notification(raw)


def test_a_refund_notification_is_not_about_a_payment() -> None:
    notice = wire.read_notification(
        body({"type": "notification", "event": "refund.succeeded", "object": {"id": "216749f7-0016-50be-b000-078d43a63ae4"}})
    )
    assert not notice.about_payment
