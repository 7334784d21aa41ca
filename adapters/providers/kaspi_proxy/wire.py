"""The Kaspi proxy's JSON: success bodies per operation, every failure variant, and status mapping."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from domain.payment import PaymentStatus

from adapters.providers.json_answers import json_object

# Kaspi answers in Kazakhstan time; a timestamp without an offset is read in that zone.
KASPI_TIMEZONE = timezone(timedelta(hours=5))
# Kaspi error codes are integers (-1501, -99000005, 990000028), sent as JSON object keys.
_KASPI_CODE = re.compile(r"-?\d{1,12}")
_IDENTIFIER = re.compile(r"\d{1,19}")  # QrPaymentId and friends are int64
MAX_BODY_BYTES = 1_000_000
MAX_MESSAGE_CHARS = 500

_FINAL_STATUSES = {"Processed": PaymentStatus.SUCCEEDED, "Error": PaymentStatus.FAILED}
LINK_CREATED_STATUS = "QrTokenCreated"
UNKNOWN_STATUS = "Unknown"


def payment_status(kaspi_status: str) -> PaymentStatus:
    """Our state for a Kaspi status; anything unrecognised stays pending (never guess a final state)."""
    return _FINAL_STATUSES.get(kaspi_status, PaymentStatus.PENDING)


# --- What a call can end in besides success -------------------------------------------------------


@attrs.define(str=False)
class ProxyDeclined(Exception):
    """The proxy (or Kaspi behind it) gave a definite no; nothing happened."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@attrs.define(str=False)
class ProxyOutcomeUnknown(Exception):
    """The answer does not tell whether the operation happened (5xx, garbage, a body we cannot read)."""

    reason: str

    def __str__(self) -> str:
        return self.reason


# --- Success shapes -----------------------------------------------------------------------------


@attrs.frozen
class RemotePaymentCreated:
    external_id: str
    status: str


@attrs.frozen
class PaymentLinkCreated:
    payment_id: str
    payment_link: str
    status: str
    expires_at: datetime | None


@attrs.frozen
class PaymentState:
    external_id: str
    status: str


@attrs.frozen
class RefundAccepted:
    """`return_operation_id` and `refunded_amount` are None when an older proxy answered an empty body."""

    return_operation_id: str | None
    refunded_amount: Decimal | None


def read_create(http_status: int, body: bytes) -> RemotePaymentCreated:
    data = _success_data(http_status, body, empty_is_success=False)
    external_id = _identifier(data.get("externalId"))
    if external_id is None:
        raise ProxyOutcomeUnknown("create answered success without a readable externalId")
    return RemotePaymentCreated(external_id=external_id, status=_status_text(data.get("status")) or UNKNOWN_STATUS)


def read_create_link(http_status: int, body: bytes) -> PaymentLinkCreated:
    data = _success_data(http_status, body, empty_is_success=False)
    payment_id = _identifier(data.get("paymentId"))
    link = data.get("paymentLink")
    if payment_id is None or not isinstance(link, str) or not link.startswith("https://"):
        raise ProxyOutcomeUnknown("create-link answered success without a readable paymentId and paymentLink")
    return PaymentLinkCreated(
        payment_id=payment_id,
        payment_link=link,
        # A fresh link has no status in the answer; Kaspi reports QrTokenCreated until it is opened.
        status=_status_text(data.get("status")) or LINK_CREATED_STATUS,
        expires_at=parse_expire_date(data.get("expireDate")),
    )


def read_status(http_status: int, body: bytes, *, external_id: str) -> PaymentState:
    data = _success_data(http_status, body, empty_is_success=False)
    status = _status_text(data.get("status"))
    if status is None:
        raise ProxyOutcomeUnknown("status answered success without a status")
    _same_payment(data, external_id)
    return PaymentState(external_id=external_id, status=status)


def read_refund(http_status: int, body: bytes, *, external_id: str) -> RefundAccepted:
    data = _success_data(http_status, body, empty_is_success=True)
    if data is None:
        return RefundAccepted(return_operation_id=None, refunded_amount=None)
    _same_payment(data, external_id)
    return RefundAccepted(
        return_operation_id=_identifier(data.get("returnOperationId")),
        refunded_amount=_amount(data.get("refundedAmount")),
    )


def parse_expire_date(value: object) -> datetime | None:
    """Kaspi's `2025-10-22T17:10:50.717+05:00`; None when absent or unreadable (it is informational)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=KASPI_TIMEZONE)


# --- The envelope ---------------------------------------------------------------------------------


def _success_data(http_status: int, body: bytes, *, empty_is_success: bool) -> Any:
    """The `data` object of a success answer; raises for every other answer."""
    if http_status == 429 or not 200 <= http_status < 500 or 300 <= http_status < 400:
        # Overload, a server error or a redirect: nothing says whether the operation ran.
        raise ProxyOutcomeUnknown(f"HTTP {http_status}")
    document = json_object(body, limit=MAX_BODY_BYTES)
    if http_status >= 400:
        # The proxy refused the request itself (bad token, bad parameters): a definite no.
        if document is not None and _flag(document) is not True:
            raise _failure(document, http_status)
        raise ProxyDeclined(f"http_{http_status}", f"the proxy answered HTTP {http_status}")
    if document is None:
        if empty_is_success and not body.strip():
            return None  # older proxies answer a successful refund with an empty body
        raise ProxyOutcomeUnknown("empty body" if not body.strip() else "unreadable body")
    flag = _flag(document)
    if flag is None:
        raise ProxyOutcomeUnknown("body has no status flag")
    if flag is False:
        raise _failure(document, http_status)
    data = document.get("data")
    if data is None or data == []:  # PHP encodes an empty array as []
        return {}
    if not isinstance(data, dict):
        raise ProxyOutcomeUnknown("body has an unreadable data field")
    return data



def _flag(document: Mapping[str, Any]) -> bool | None:
    """`status` (or `success` in some proxy versions), only when it is a real boolean."""
    for key in ("status", "success"):
        value = document.get(key)
        if isinstance(value, bool):
            return value
    return None


def _failure(document: Mapping[str, Any], http_status: int) -> ProxyDeclined | ProxyOutcomeUnknown:
    code: str | None = None
    messages: list[str] = []
    data = document.get("data")
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, dict):
        for key, value in errors.items():
            if code is None and _KASPI_CODE.fullmatch(str(key)):
                code = str(key)
                messages.append(_text(value))
            else:
                messages.append(f"{key}: {_text(value)}")
    elif errors is not None:
        messages.append(_text(errors))
    for holder in (document, data if isinstance(data, dict) else {}):
        for key in ("error", "message"):
            value = holder.get(key)
            if isinstance(value, dict):
                if code is None and _KASPI_CODE.fullmatch(str(value.get("code", ""))):
                    code = str(value["code"])
                value = value.get("message")
            if value not in (None, "", [], {}):
                messages.append(_text(value))
    message = "; ".join(m for m in messages if m)[:MAX_MESSAGE_CHARS] or "the proxy reported a failure"
    upstream = document.get("http_code")
    answered_ok = 200 <= http_status < 300
    if code is None and answered_ok and type(upstream) is int and (upstream == 0 or upstream >= 500):
        # The proxy itself failed to hear from Kaspi (0 = no connection, 5xx): not a refusal.
        return ProxyOutcomeUnknown(f"the proxy got no answer from Kaspi (http_code {upstream}): {message}")
    if code is None:
        code = "proxy_error" if answered_ok else f"http_{http_status}"
    return ProxyDeclined(code, message)


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "; ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return str(value)


def _identifier(value: object) -> str | None:
    if type(value) is int and value >= 0:
        return str(value)
    if isinstance(value, str) and _IDENTIFIER.fullmatch(value.strip()):
        return value.strip()
    return None


def _status_text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _amount(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _same_payment(data: Mapping[str, Any], external_id: str) -> None:
    answered = data.get("externalId")
    if answered is None:
        return
    answered_id = _identifier(answered)
    if answered_id is None or answered_id.lstrip("0") != external_id.strip().lstrip("0"):
        raise ProxyOutcomeUnknown("the proxy answered about another payment")
