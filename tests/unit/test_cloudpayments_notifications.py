"""CloudPayments notifications: HMAC verification of form and JSON bodies, what their fields say, Check's answer."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest

from domain.money import Money
from domain.payment import Payment, PaymentMethod, PaymentStatus

from adapters.providers.cloudpayments import notifications, wire
from adapters.providers.cloudpayments.notifications import UnreadableNotification

from entrypoints.http.provider_webhooks.cloudpayments import check_answer

SECRET = "0c5b7a1b9e2f4d3c8a6e"
PAY = {
    "TransactionId": 504,
    "Amount": Decimal("1500.50"),
    "Currency": "RUB",
    "InvoiceId": "pay_01JD8Z6Q",
    "AccountId": "customer 42",
    "Description": "Розы & тюльпаны = 15 шт",
    "TestMode": True,
    "Status": "Completed",
}


def reference_hmac(body: bytes, secret: str) -> str:
    """CloudPayments' documented scheme, written out independently of the code under test."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@pytest.fixture(params=[notifications.FORM, notifications.JSON])
def signed(request: pytest.FixtureRequest) -> tuple[bytes, str, str]:
    body, content_type = notifications.encode(PAY, request.param)
    return body, content_type, notifications.sign(body, SECRET)


def test_the_signature_is_base64_hmac_sha256_of_the_raw_body(signed: tuple[bytes, str, str]) -> None:
    body, _, signature = signed
    assert signature == reference_hmac(body, SECRET)


def test_a_signed_body_is_verified_in_either_header(signed: tuple[bytes, str, str]) -> None:
    body, _, signature = signed
    assert notifications.signature_valid(body, SECRET, [signature])
    assert notifications.signature_valid(body, SECRET, [f"  {signature} "])  # header whitespace
    # One of the two headers may be signed over differently encoded bytes: the one that matches counts.
    assert notifications.signature_valid(body, SECRET, ["c29tZXRoaW5nIGVsc2U=", signature])
    assert notifications.signature_valid(body, SECRET, [signature, "garbage"])


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body: body.replace(b"1500.50", b"15.50"),
        lambda body: body.replace(b"Completed", b"Cancelled"),
        lambda body: body + b" ",
        lambda body: body[:-1],
    ],
)
def test_a_tampered_body_fails(signed: tuple[bytes, str, str], tamper: Callable[[bytes], bytes]) -> None:
    body, _, signature = signed
    changed = tamper(body)
    assert changed != body
    assert not notifications.signature_valid(changed, SECRET, [signature])


def test_a_body_signed_with_another_secret_fails(signed: tuple[bytes, str, str]) -> None:
    body, _, _ = signed
    forged = notifications.sign(body, "a-secret-the-forger-guessed")
    assert not notifications.signature_valid(body, SECRET, [forged])
    assert not notifications.signature_valid(body, SECRET.upper(), [notifications.sign(body, SECRET)])


@pytest.mark.parametrize(
    "signatures",
    [[], [""], ["not base64 at all"], ["Zm9v"], ["подпись"], ["\x00"]],
    ids=["no-header", "empty", "junk", "short", "non-ascii", "nul"],
)
def test_missing_or_malformed_signatures_fail(signed: tuple[bytes, str, str], signatures: list[str]) -> None:
    body, _, _ = signed
    assert not notifications.signature_valid(body, SECRET, signatures)


def test_no_secret_verifies_nothing(signed: tuple[bytes, str, str]) -> None:
    body, _, _ = signed
    assert not notifications.signature_valid(body, "", [notifications.sign(body, "")])


def test_the_headers_it_reads_are_both_of_cloudpayments_spellings_in_lower_case() -> None:
    # Starlette's headers are case-insensitive; these are the names looked up.
    assert notifications.SIGNATURE_HEADERS == ("content-hmac", "x-content-hmac")


# --- Reading notifications ------------------------------------------------------------------------


def test_form_and_json_notifications_read_the_same(signed: tuple[bytes, str, str]) -> None:
    body, content_type, _ = signed
    notice = notifications.parse(body, content_type)
    assert notice.invoice_id == "pay_01JD8Z6Q"
    assert notice.transaction_id == "504"
    assert notice.amount == Decimal("1500.50")
    assert notice.currency == "RUB"
    assert notice.get("Description") == "Розы & тюльпаны = 15 шт"
    assert notice.get("AccountId") == "customer 42"
    assert notice.get("TestMode") == "1"


def test_a_json_body_without_a_content_type_is_read_as_json() -> None:
    body, _ = notifications.encode(PAY, notifications.JSON)
    assert notifications.parse(body, None).invoice_id == "pay_01JD8Z6Q"
    assert notifications.parse(body, "application/json; charset=utf-8").amount == Decimal("1500.50")


def test_a_nested_json_field_is_kept_as_text() -> None:
    notice = notifications.parse(b'{"InvoiceId": "pay_1", "Data": {"a": [1, 2.5]}, "Email": null}', "application/json")
    assert notice.get("Data") == '{"a":[1,2.5]}'
    assert notice.get("Email") is None


def test_a_nested_field_keeps_its_order_digits_and_letters() -> None:
    body = '{"InvoiceId": "pay_1", "Data": {"z": "Привет \\u00e9", "a": [1.50, 1e400, true, null]}}'.encode()
    notice = notifications.parse(body, "application/json")
    assert notice.get("Data") == '{"z":"Привет é","a":[1.50,1E+400,true,null]}'


def test_a_field_that_appears_twice_is_named() -> None:
    with pytest.raises(UnreadableNotification, match="field InvoiceId appears twice"):
        notifications.parse(b'{"InvoiceId": "pay_1", "Amount": 1, "InvoiceId": "pay_2"}', "application/json")


def test_a_json_notification_is_the_bytes_cloudpayments_signs() -> None:
    body = wire.encode({"InvoiceId": "pay_1", "Amount": Decimal("1500.50"), "Name": "Иван", "Data": {"z": 1, "a": None}})
    assert body == '{"InvoiceId":"pay_1","Amount":1500.50,"Name":"Иван","Data":{"z":1,"a":null}}'.encode()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "application/x-www-form-urlencoded"),
        (b"InvoiceId=pay_1&InvoiceId=pay_2", "application/x-www-form-urlencoded"),
        (b'{"InvoiceId": "pay_1", "InvoiceId": "pay_2"}', "application/json"),
        (b"[1, 2]", "application/json"),
        (b"{not json", "application/json"),
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
        (b"InvoiceId", "application/x-www-form-urlencoded"),
        (b"a=" + b"x" * notifications.MAX_BODY_BYTES, "application/x-www-form-urlencoded"),
        (b"InvoiceId=pay_%00", "application/x-www-form-urlencoded"),
        (b'{"InvoiceId": "pay_1", "Name": "a\\u0000b"}', "application/json"),
        (b"InvoiceId=" + b"p" * 65, "application/x-www-form-urlencoded"),
        (b'{"InvoiceId": "pay_1", "Data": {"a": 1, "a": 2}}', "application/json"),
        (b'{"InvoiceId": "pay_1", "Amount": NaN}', "application/json"),
        (b'{"InvoiceId": "pay_1", "Data": {"a": [-Infinity]}}', "application/json"),
        (b'{"InvoiceId": "pay_1", "Name": "a\\ud800"}', "application/json"),
        (b'{"InvoiceId": "pay_1", "Data": {"\\udc00": 1}}', "application/json"),
    ],
    ids=[
        "empty", "form-duplicate", "json-duplicate", "json-array", "bad-json", "not-utf8", "no-value", "too-large",
        "nul-in-form", "nul-in-json", "invoice-too-long", "nested-duplicate", "nan", "nested-infinity",
        "surrogate-in-json", "surrogate-in-nested-key",
    ],
)
def test_unreadable_bodies_are_refused(body: bytes, content_type: str) -> None:
    with pytest.raises(UnreadableNotification):
        notifications.parse(body, content_type)


@pytest.mark.parametrize(
    ("kind", "fields", "outcome"),
    [
        ("pay", {"Status": "Completed"}, PaymentStatus.SUCCEEDED),
        ("pay", {"Status": "Authorized"}, PaymentStatus.AUTHORIZED),
        ("confirm", {}, PaymentStatus.SUCCEEDED),
        ("cancel", {}, PaymentStatus.CANCELLED),
        ("fail", {}, None),  # a declined attempt is not the payment's end: a re-fetch decides
        ("pay", {}, None),  # no status: nothing to act on but a re-fetch
        ("pay", {"Status": "AwaitingAuthentication"}, None),
        ("pay", {"Status": "Something new"}, None),
    ],
)
def test_what_a_notification_says_about_the_payment(
    kind: str, fields: dict[str, str], outcome: PaymentStatus | None
) -> None:
    notice = notifications.Notification({"InvoiceId": "pay_1", **fields})
    assert notice.observed_outcome(kind) is outcome


# --- The wire -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("Created", PaymentStatus.PENDING),
        ("AwaitingAuthentication", PaymentStatus.PENDING),
        ("Authorized", PaymentStatus.AUTHORIZED),
        ("Completed", PaymentStatus.SUCCEEDED),
        ("Cancelled", PaymentStatus.CANCELLED),
        ("Declined", PaymentStatus.PENDING),  # one attempt declined; the customer may retry
        ("Refunded?", PaymentStatus.PENDING),
    ],
)
def test_statuses_map_to_ours_and_anything_new_stays_pending(status: str, outcome: PaymentStatus) -> None:
    assert wire.payment_status(status) is outcome


def test_a_float_never_reaches_a_request_body() -> None:
    with pytest.raises(TypeError):
        wire.encode({"Amount": 1500.5})
    assert wire.encode({"Amount": Decimal("1500.50")}) == b'{"Amount":1500.50}'


@pytest.mark.parametrize(
    ("http_status", "body", "error"),
    [
        (500, b'{"Success": true}', wire.CloudPaymentsOutcomeUnknown),
        (502, b"<html>", wire.CloudPaymentsOutcomeUnknown),
        (429, b"", wire.CloudPaymentsOutcomeUnknown),
        (302, b"", wire.CloudPaymentsOutcomeUnknown),
        (200, b"<html>", wire.CloudPaymentsOutcomeUnknown),
        (200, b"", wire.CloudPaymentsOutcomeUnknown),
        (200, b'{"Model": {}}', wire.CloudPaymentsOutcomeUnknown),
        (200, b'{"Success": "true"}', wire.CloudPaymentsOutcomeUnknown),
        (401, b"", wire.CloudPaymentsDeclined),
        (400, b'{"Success": false, "Message": "InvoiceId is too long"}', wire.CloudPaymentsDeclined),
    ],
)
def test_answers_that_are_not_an_envelope(http_status: int, body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        wire.read_envelope(http_status, body)


def test_a_refusal_carries_cloudpayments_reason() -> None:
    envelope = wire.read_envelope(
        200,
        b'{"Success": false, "Message": null, "Model": {"ReasonCode": 5051, "CardHolderMessage": "No funds"}}',
    )
    refusal = wire.refusal(envelope)
    assert (refusal.code, refusal.message) == ("reason_5051", "No funds")
    assert wire.is_not_found(wire.read_envelope(200, b'{"Success": false, "Message": "Not found", "Model": null}'))


# --- Check: may CloudPayments take the money? ------------------------------------------------------

NOW = datetime(2025, 10, 22, 12, 0, tzinfo=UTC)


def open_payment(**changes: Any) -> Payment:
    payment = Payment(
        id="pay_01JD8Z6Q",
        shop_id=56195,
        provider="cloudpayments",
        method=PaymentMethod.LINK,
        amount=Money(150_050, "RUB"),
        merchant_account="pk_test",
        description="Roses",
        created_at=NOW - timedelta(hours=1),
        updated_at=NOW - timedelta(hours=1),
        external_id="pay_01JD8Z6Q",
        expires_at=NOW + timedelta(hours=23),
    )
    return attrs.evolve(payment, **changes)


def check_of(amount: str = "1500.50", currency: str = "RUB") -> notifications.Notification:
    return notifications.Notification({"InvoiceId": "pay_01JD8Z6Q", "Amount": amount, "Currency": currency})


@pytest.mark.parametrize(
    ("payment", "notice", "code"),
    [
        (open_payment(), check_of(), notifications.ACCEPTED),
        (open_payment(), check_of("1500.5"), notifications.ACCEPTED),
        (open_payment(), check_of("1500.49"), notifications.WRONG_AMOUNT),
        (open_payment(), check_of("1500.501"), notifications.WRONG_AMOUNT),
        (open_payment(), check_of(currency="KZT"), notifications.WRONG_AMOUNT),
        (open_payment(), check_of(currency="XXX"), notifications.WRONG_AMOUNT),
        (open_payment(), notifications.Notification({"InvoiceId": "pay_01JD8Z6Q"}), notifications.WRONG_AMOUNT),
        (open_payment(expires_at=NOW), check_of(), notifications.EXPIRED),
        (open_payment(status=PaymentStatus.EXPIRED), check_of(), notifications.EXPIRED),
        (open_payment(status=PaymentStatus.FAILED), check_of(), notifications.REJECTED),
        (open_payment(status=PaymentStatus.SUCCEEDED), check_of(), notifications.REJECTED),
        (open_payment(status=PaymentStatus.AUTHORIZED), check_of(), notifications.REJECTED),
        # Its creation was never confirmed to us: nobody was given the link, money for it could not be followed.
        (open_payment(external_id=None), check_of(), notifications.REJECTED),
    ],
    ids=[
        "open",
        "open-short-decimals",
        "less",
        "sub-kopeck",
        "other-currency",
        "unknown-currency",
        "no-amount",
        "past-lifetime",
        "expired",
        "failed",
        "succeeded",
        "authorized",
        "unconfirmed",
    ],
)
def test_check_accepts_only_the_exact_amount_of_an_open_payment(
    payment: Payment, notice: notifications.Notification, code: int
) -> None:
    assert check_answer(payment, notice, NOW) == code
