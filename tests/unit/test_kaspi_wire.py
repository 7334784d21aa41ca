"""Reading every body the Kaspi proxy is known to answer, success and failure alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from domain.payment import PaymentStatus

from adapters.providers.kaspi_proxy import wire
from adapters.providers.kaspi_proxy.wire import (
    PaymentLinkCreated,
    PaymentState,
    ProxyDeclined,
    ProxyOutcomeUnknown,
    RefundAccepted,
    RemotePaymentCreated,
)

ALMATY = timezone(timedelta(hours=5))


def body(document: object) -> bytes:
    return json.dumps(document).encode()


# --- Status mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kaspi_status", "expected"),
    [
        ("QrTokenCreated", PaymentStatus.PENDING),
        ("RemotePaymentCreated", PaymentStatus.PENDING),
        ("Wait", PaymentStatus.PENDING),
        ("Processed", PaymentStatus.SUCCEEDED),
        ("Error", PaymentStatus.FAILED),
        # Never guess a final state from a status we do not know.
        ("RemotePaymentCanceled", PaymentStatus.PENDING),
        ("processed", PaymentStatus.PENDING),
        ("Unknown", PaymentStatus.PENDING),
        ("", PaymentStatus.PENDING),
    ],
)
def test_kaspi_statuses_map_to_ours(kaspi_status: str, expected: PaymentStatus) -> None:
    assert wire.payment_status(kaspi_status) is expected


# --- create -------------------------------------------------------------------------------------


def test_create_success_body() -> None:
    answer = body({"status": True, "data": {"externalId": "12800627774", "status": "Wait"}, "http_code": 200})

    assert wire.read_create(200, answer) == RemotePaymentCreated(external_id="12800627774", status="Wait")


def test_create_success_with_the_success_key_and_a_numeric_id() -> None:
    answer = body({"success": True, "data": {"externalId": 12800627774, "status": "RemotePaymentCreated"}})

    assert wire.read_create(200, answer) == RemotePaymentCreated("12800627774", "RemotePaymentCreated")


def test_create_success_without_a_status_is_kept_pending() -> None:
    created = wire.read_create(200, body({"status": True, "data": {"externalId": "12800627774"}}))

    assert created.status == wire.UNKNOWN_STATUS
    assert wire.payment_status(created.status) is PaymentStatus.PENDING


@pytest.mark.parametrize(
    "data",
    [{}, {"externalId": ""}, {"externalId": "abc"}, {"externalId": 1.5}, {"externalId": True}, {"status": "Wait"}],
)
def test_create_success_without_a_readable_external_id_is_an_unknown_outcome(data: dict[str, object]) -> None:
    with pytest.raises(ProxyOutcomeUnknown):
        wire.read_create(200, body({"status": True, "data": data}))


# --- Failure variants (the same envelope for every operation) -------------------------------------


@pytest.mark.parametrize(
    ("document", "code", "message"),
    [
        ({"status": False, "data": {"errors": {"-1501": "Device not found"}}}, "-1501", "Device not found"),
        ({"success": False, "data": {"errors": {"-99000005": "Refund exceeds"}}}, "-99000005", "Refund exceeds"),
        ({"status": False, "data": {"errors": {"990000028": "Invalid amount"}}}, "990000028", "Invalid amount"),
        ({"status": False, "error": "Something went wrong"}, "proxy_error", "Something went wrong"),
        ({"success": False, "error": "Something went wrong"}, "proxy_error", "Something went wrong"),
        ({"status": False, "data": {"errors": ["first", "second"]}}, "proxy_error", "first; second"),
        (
            {"status": False, "data": {"errors": {"phone": ["The phone field is required."]}}},
            "proxy_error",
            "phone: The phone field is required.",
        ),
        ({"status": False}, "proxy_error", "the proxy reported a failure"),
        ({"status": False, "data": []}, "proxy_error", "the proxy reported a failure"),
        ({"status": False, "error": {"code": -1601, "message": "Purchase not found"}}, "-1601", "Purchase not found"),
        ({"status": False, "data": {"errors": {"-1601": "Not found"}}, "http_code": 500}, "-1601", "Not found"),
    ],
)
def test_failure_bodies_are_definite_refusals(document: dict[str, object], code: str, message: str) -> None:
    with pytest.raises(ProxyDeclined) as refused:
        wire.read_create(200, body(document))

    assert (refused.value.code, refused.value.message) == (code, message)


@pytest.mark.parametrize("upstream", [0, 500, 504])
def test_a_failure_without_a_kaspi_code_after_an_upstream_error_is_an_unknown_outcome(upstream: int) -> None:
    # The proxy could not hear from Kaspi: the bill may have been pushed all the same.
    document = {"status": False, "error": "cURL error 28: Operation timed out", "http_code": upstream}

    with pytest.raises(ProxyOutcomeUnknown):
        wire.read_create(200, body(document))


def test_a_failure_message_is_bounded() -> None:
    document = {"status": False, "error": "x" * 10_000}

    with pytest.raises(ProxyDeclined) as refused:
        wire.read_create(200, body(document))

    assert len(refused.value.message) == wire.MAX_MESSAGE_CHARS


# --- HTTP statuses other than 200 -----------------------------------------------------------------


@pytest.mark.parametrize("http_status", [500, 502, 503, 504, 429, 301, 302, 307, 101])
def test_server_errors_overload_and_redirects_are_unknown_outcomes(http_status: int) -> None:
    # Even with a success-looking body: nothing about such an answer can be trusted either way.
    answer = body({"status": True, "data": {"externalId": "12800627774", "status": "Wait"}})

    with pytest.raises(ProxyOutcomeUnknown) as unknown:
        wire.read_create(http_status, answer)

    assert str(http_status) in unknown.value.reason


def test_a_4xx_with_a_failure_body_keeps_the_kaspi_code() -> None:
    answer = body({"status": False, "data": {"errors": {"-1501": "Device not found"}}})

    with pytest.raises(ProxyDeclined) as refused:
        wire.read_create(400, answer)

    assert refused.value.code == "-1501"


def test_a_4xx_with_a_failure_body_without_a_code_is_named_after_the_http_status() -> None:
    with pytest.raises(ProxyDeclined) as refused:
        wire.read_status(401, body({"status": False, "error": "Invalid access token"}), external_id="1")

    assert (refused.value.code, refused.value.message) == ("http_401", "Invalid access token")


@pytest.mark.parametrize("answer", [b"<html>Not Found</html>", b"", body({"status": True, "data": {}})])
def test_a_4xx_without_a_failure_body_is_a_refusal(answer: bytes) -> None:
    with pytest.raises(ProxyDeclined) as refused:
        wire.read_refund(404, answer, external_id="1")

    assert refused.value.code == "http_404"


# --- Garbage --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        b"",
        b"   \n",
        b"<br />\n<b>Fatal error</b>: Uncaught TypeError",
        b'{"status": true, "data": {"externalId": "128',
        b"null",
        b"true",
        b"[]",
        b'"ok"',
        b"\xff\xfe\x00garbage",
        body({"status": "true", "data": {"externalId": "12800627774"}}),
        body({"status": 1, "data": {"externalId": "12800627774"}}),
        body({"data": {"externalId": "12800627774"}}),
        body({"status": True, "data": "12800627774"}),
        b"[" * 100_000,
    ],
)
def test_unreadable_success_answers_are_unknown_outcomes(answer: bytes) -> None:
    with pytest.raises(ProxyOutcomeUnknown):
        wire.read_create(200, answer)


def test_a_boolean_success_key_wins_over_a_non_boolean_status() -> None:
    answer = body({"status": "ok", "success": True, "data": {"externalId": "12800627774", "status": "Wait"}})

    assert wire.read_create(200, answer).external_id == "12800627774"


# --- create-link ----------------------------------------------------------------------------------

LINK = "https://pay.kaspi.kz/pay/" + "1" * 41


def test_create_link_success_body() -> None:
    answer = body(
        {
            "status": True,
            "data": {"paymentLink": LINK, "paymentId": "12800944903", "expireDate": "2025-10-22T17:10:50.717+05:00"},
        }
    )

    assert wire.read_create_link(200, answer) == PaymentLinkCreated(
        payment_id="12800944903",
        payment_link=LINK,
        status="QrTokenCreated",
        expires_at=datetime(2025, 10, 22, 17, 10, 50, 717000, tzinfo=ALMATY),
    )


@pytest.mark.parametrize(
    ("expire_date", "expected"),
    [
        ("2025-10-22T12:10:50Z", datetime(2025, 10, 22, 12, 10, 50, tzinfo=UTC)),
        # Without an offset the time is Kaspi's own, Kazakhstan time.
        ("2025-10-22T17:10:50", datetime(2025, 10, 22, 17, 10, 50, tzinfo=ALMATY)),
        ("22.10.2025 17:10", None),
        (None, None),
        (1761135050, None),
    ],
)
def test_create_link_expiry_forms(expire_date: object, expected: datetime | None) -> None:
    answer = body({"status": True, "data": {"paymentLink": LINK, "paymentId": 12800944903, "expireDate": expire_date}})

    assert wire.read_create_link(200, answer).expires_at == expected


@pytest.mark.parametrize(
    "data",
    [
        {"paymentId": "12800944903"},
        {"paymentLink": LINK},
        {"paymentLink": "http://pay.kaspi.kz/pay/1", "paymentId": "12800944903"},
        {"paymentLink": 12, "paymentId": "12800944903"},
    ],
)
def test_create_link_without_a_usable_link_or_id_is_an_unknown_outcome(data: dict[str, object]) -> None:
    with pytest.raises(ProxyOutcomeUnknown):
        wire.read_create_link(200, body({"status": True, "data": data}))


# --- status ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("answered_id", ["12800627774", 12800627774])
def test_status_success_body(answered_id: object) -> None:
    answer = body({"status": True, "data": {"externalId": answered_id, "status": "Processed"}})

    assert wire.read_status(200, answer, external_id="12800627774") == PaymentState("12800627774", "Processed")


def test_status_without_an_external_id_in_the_answer_is_about_the_asked_payment() -> None:
    answer = body({"success": True, "data": {"status": "Error"}})

    assert wire.read_status(200, answer, external_id="12800627774") == PaymentState("12800627774", "Error")


@pytest.mark.parametrize(
    "data",
    [
        {"externalId": "12800627774"},
        {"externalId": "12800627774", "status": ""},
        {"externalId": "12800627774", "status": 3},
        {"externalId": "12800000001", "status": "Processed"},
        {"externalId": "garbage", "status": "Processed"},
    ],
)
def test_status_answers_that_do_not_say_what_happened_are_unknown_outcomes(data: dict[str, object]) -> None:
    with pytest.raises(ProxyOutcomeUnknown):
        wire.read_status(200, body({"status": True, "data": data}), external_id="12800627774")


def test_status_of_an_unknown_purchase_is_a_refusal() -> None:
    answer = body({"status": False, "data": {"errors": {"-1601": "Purchase not found"}}})

    with pytest.raises(ProxyDeclined) as refused:
        wire.read_status(200, answer, external_id="12800627774")

    assert refused.value.code == "-1601"


# --- refund ---------------------------------------------------------------------------------------


def test_refund_success_body() -> None:
    answer = body(
        {"status": True, "data": {"externalId": "12800627774", "returnOperationId": 12800582793, "refundedAmount": 50}}
    )

    assert wire.read_refund(200, answer, external_id="12800627774") == RefundAccepted(
        return_operation_id="12800582793", refunded_amount=Decimal(50)
    )


def test_refund_amounts_are_read_exactly() -> None:
    answer = b'{"status": true, "data": {"returnOperationId": "12800582793", "refundedAmount": 50.10}}'

    accepted = wire.read_refund(200, answer, external_id="12800627774")

    assert accepted.refunded_amount == Decimal("50.10")


@pytest.mark.parametrize(("http_status", "answer"), [(200, b""), (200, b" \r\n"), (204, b"")])
def test_an_empty_refund_answer_is_a_success_from_an_older_proxy(http_status: int, answer: bytes) -> None:
    assert wire.read_refund(http_status, answer, external_id="12800627774") == RefundAccepted(None, None)


def test_a_refund_success_with_an_empty_data_field_is_a_success() -> None:
    accepted = wire.read_refund(200, body({"success": True, "data": []}), external_id="12800627774")

    assert accepted == RefundAccepted(None, None)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("-99000005", "Refund amount exceeds the purchase amount"),
        ("-99000011", "Purchase status does not allow a refund"),
        ("-99000020", "Partial refund is not possible"),
    ],
)
def test_refund_refusals(code: str, message: str) -> None:
    with pytest.raises(ProxyDeclined) as refused:
        wire.read_refund(200, body({"status": False, "data": {"errors": {code: message}}}), external_id="1")

    assert (refused.value.code, refused.value.message) == (code, message)


@pytest.mark.parametrize("answer", [b"<html>oops</html>", body({"status": True, "data": {"externalId": "999"}})])
def test_refund_answers_that_cannot_be_read_are_unknown_outcomes(answer: bytes) -> None:
    with pytest.raises(ProxyOutcomeUnknown):
        wire.read_refund(200, answer, external_id="12800627774")


def test_refund_5xx_with_an_empty_body_is_not_a_success() -> None:
    with pytest.raises(ProxyOutcomeUnknown):
        wire.read_refund(502, b"", external_id="12800627774")
