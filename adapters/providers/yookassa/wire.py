"""YooKassa's JSON: request bodies, payment and refund objects, error answers, notifications, statuses.

Amounts are `{"value": "599.00", "currency": "RUB"}` with the value a decimal string, built from and
read into `Money` without a float (the `yookassa` SDK's own `Amount` goes through `float`, so its
models are not used here; the tests check this module against them instead).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeGuard

import attrs

from domain.errors import DomainError
from domain.money import CURRENCY_EXPONENTS, Money
from domain.payment import PaymentStatus
from domain.refund import RefundStatus

from adapters.providers.json_answers import json_object

NAME = "yookassa"  # the provider's name in routes, payments and notices

# YooKassa's limits (API v3): the Idempotence-Key, descriptions and metadata.
MAX_IDEMPOTENCE_KEY = 64
MAX_DESCRIPTION = 128
MAX_METADATA_KEYS = 16
MAX_METADATA_KEY = 32
MAX_METADATA_VALUE = 512
MAX_BODY_BYTES = 1_000_000
MAX_MESSAGE_CHARS = 500
# Metadata keys Paygate adds to every payment, so a payment seen in YooKassa's dashboard (or in a
# notification) can be traced back to ours.
PAYMENT_ID_KEY = "paygate_payment_id"
ORDER_ID_KEY = "paygate_order_id"
CUSTOMER_ID_KEY = "paygate_customer_id"
REFUND_ID_KEY = "paygate_refund_id"  # on each refund: finds it again when the create's answer was lost
RESERVED_PREFIX = "paygate_"

# Payment and refund ids look like `2d9c7e6b-000f-5000-9000-1b68e7b15f3f`. They become URL path
# segments, so anything else is refused before a request is built.
_OBJECT_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")
_AMOUNT_VALUE = re.compile(r"\d{1,14}(?:\.\d{1,3})?")
_EVENT = re.compile(r"[a-z_]{1,40}\.[a-z_]{1,40}")

PENDING = "pending"
WAITING_FOR_CAPTURE = "waiting_for_capture"
SUCCEEDED = "succeeded"
CANCELED = "canceled"

_OUTCOMES = {
    PENDING: PaymentStatus.PENDING,
    WAITING_FOR_CAPTURE: PaymentStatus.AUTHORIZED,
    SUCCEEDED: PaymentStatus.SUCCEEDED,
    CANCELED: PaymentStatus.CANCELLED,
}

NOTIFICATION = "notification"
PAYMENT_EVENT_PREFIX = "payment."
REFUND_EVENT_PREFIX = "refund."


def payment_status(status: str) -> PaymentStatus:
    """Our state for a YooKassa payment status; anything unrecognised stays pending (never guess)."""
    return _OUTCOMES.get(status, PaymentStatus.PENDING)


def is_object_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _OBJECT_ID.fullmatch(value) is not None


def idempotence_key(key: str) -> str:
    """The `Idempotence-Key` for one of our keys: itself when YooKassa takes it, else its SHA-256.

    Deterministic, so a retried operation always sends the same header; 64 hex digits fit the limit.
    """
    if 0 < len(key) <= MAX_IDEMPOTENCE_KEY and key.isascii() and key.isprintable():
        return key
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# --- What a call can end in besides success -------------------------------------------------------


@attrs.define(str=False)
class Refused(Exception):
    """A definite no: YooKassa's error answer, or a request it would refuse, caught before sending."""

    code: str
    description: str
    parameter: str | None = None

    def __str__(self) -> str:
        where = f" ({self.parameter})" if self.parameter else ""
        return f"{self.code}: {self.description}{where}"


@attrs.define(str=False)
class OutcomeUnknown(Exception):
    """The answer does not say whether the operation happened (500, 202, garbage).

    `retry_after` is YooKassa's own advice (seconds) when it gave one: a retry with the same
    Idempotence-Key then returns the operation's real result.
    """

    reason: str
    retry_after: float | None = None

    def __str__(self) -> str:
        return self.reason


# --- Request bodies -------------------------------------------------------------------------------


def amount_json(money: Money) -> dict[str, str]:
    """`{"value": "599.00", "currency": "RUB"}`: every minor digit written, as YooKassa shows it."""
    exponent = CURRENCY_EXPONENTS[money.currency]
    whole, fraction = divmod(money.minor, 10**exponent)
    value = f"{whole}.{fraction:0{exponent}d}" if exponent else str(whole)
    return {"value": value, "currency": money.currency}


def payment_body(
    *,
    amount: Money,
    description: str,
    return_url: str,
    capture: bool,
    payment_id: str,
    order_id: str | None = None,
    customer_id: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`POST /payments` for a redirect checkout; raises `Refused` for metadata YooKassa would refuse."""
    body: dict[str, Any] = {
        "amount": amount_json(amount),
        "confirmation": {"type": "redirect", "return_url": return_url},
        # false: two-step, the payment waits in waiting_for_capture until captured or cancelled.
        "capture": capture,
        "metadata": _metadata(payment_id, order_id, customer_id, metadata or {}),
    }
    if description:
        # The text shown to the customer; YooKassa refuses longer ones, a shorter one loses nothing
        # the money depends on.
        body["description"] = description[:MAX_DESCRIPTION]
    return body


def capture_body(amount: Money) -> dict[str, Any]:
    return {"amount": amount_json(amount)}


def refund_body(*, payment_id: str, amount: Money, refund_id: str) -> dict[str, Any]:
    return {"payment_id": payment_id, "amount": amount_json(amount), "metadata": {REFUND_ID_KEY: refund_id}}


# A refund's statuses (the SDK's RefundStatus): pending until YooKassa's final word.
_REFUND_OUTCOMES = {PENDING: RefundStatus.PENDING, SUCCEEDED: RefundStatus.SUCCEEDED, CANCELED: RefundStatus.FAILED}


def refund_status(status: str) -> RefundStatus:
    """Our state for a YooKassa refund status; anything unrecognised stays pending (never guess)."""
    return _REFUND_OUTCOMES.get(status, RefundStatus.PENDING)


def _metadata(
    payment_id: str, order_id: str | None, customer_id: str | None, given: Mapping[str, str]
) -> dict[str, str]:
    reserved = sorted(key for key in given if key.startswith(RESERVED_PREFIX))
    if reserved:
        raise Refused("invalid_metadata", f"metadata key {reserved[0]!r} is reserved by Paygate", "metadata")
    ours = {PAYMENT_ID_KEY: payment_id}
    if order_id is not None:
        ours[ORDER_ID_KEY] = order_id
    if customer_id is not None:
        ours[CUSTOMER_ID_KEY] = customer_id
    metadata = {**given, **ours}
    if len(metadata) > MAX_METADATA_KEYS:
        room = MAX_METADATA_KEYS - len(ours)
        raise Refused("invalid_metadata", f"YooKassa takes at most {room} metadata keys with this payment", "metadata")
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY or len(value) > MAX_METADATA_VALUE:
            raise Refused(
                "invalid_metadata",
                f"YooKassa takes metadata keys of at most {MAX_METADATA_KEY} and values of at most "
                f"{MAX_METADATA_VALUE} characters",
                "metadata",
            )
    return metadata


# --- Answers ----------------------------------------------------------------------------------------


@attrs.frozen
class Cancellation:
    party: str  # yoo_money, payment_network or merchant
    reason: str  # expired_on_confirmation, insufficient_funds, canceled_by_merchant...

    def __str__(self) -> str:
        return f"{self.reason} ({self.party})"


@attrs.frozen
class PaymentObject:
    id: str
    status: str
    paid: bool
    amount: Money | None
    confirmation_url: str | None = None
    cancellation: Cancellation | None = None

    @property
    def outcome(self) -> PaymentStatus:
        return payment_status(self.status)


@attrs.frozen
class RefundObject:
    id: str
    payment_id: str | None
    status: str
    amount: Money | None
    cancellation: Cancellation | None = None
    paygate_refund_id: str | None = None  # our id, from the refund's metadata

    @property
    def outcome(self) -> RefundStatus:
        return refund_status(self.status)


def read_payment(http_status: int, body: bytes) -> PaymentObject:
    document = _answer(http_status, body)
    payment_id = document.get("id")
    status = document.get("status")
    if not is_object_id(payment_id) or not isinstance(status, str) or not status:
        raise OutcomeUnknown("the answer is not a payment (no readable id and status)")
    confirmation = document.get("confirmation")
    url = confirmation.get("confirmation_url") if isinstance(confirmation, dict) else None
    return PaymentObject(
        id=payment_id,
        status=status,
        paid=document.get("paid") is True,
        amount=read_amount(document.get("amount")),
        confirmation_url=url if _is_web_url(url) else None,
        cancellation=_cancellation(document.get("cancellation_details")),
    )


def read_refund(http_status: int, body: bytes) -> RefundObject:
    return _refund_object(_answer(http_status, body))


@attrs.frozen
class RefundPage:
    items: tuple[RefundObject, ...]
    next_cursor: str | None


def read_refund_list(http_status: int, body: bytes) -> RefundPage:
    """`GET /refunds`: `{"type": "list", "items": [...], "next_cursor": ...}`, newest first."""
    document = _answer(http_status, body)
    items = document.get("items")
    if document.get("type") != "list" or not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise OutcomeUnknown("the answer is not a list of refunds")
    cursor = document.get("next_cursor")
    return RefundPage(
        items=tuple(_refund_object(item) for item in items),
        next_cursor=cursor if isinstance(cursor, str) and cursor else None,
    )


def _refund_object(document: dict[str, Any]) -> RefundObject:
    refund_id = document.get("id")
    status = document.get("status")
    if not is_object_id(refund_id) or not isinstance(status, str) or not status:
        raise OutcomeUnknown("the answer is not a refund (no readable id and status)")
    payment_id = document.get("payment_id")
    metadata = document.get("metadata")
    ours = metadata.get(REFUND_ID_KEY) if isinstance(metadata, dict) else None
    return RefundObject(
        id=refund_id,
        payment_id=payment_id if isinstance(payment_id, str) else None,
        status=status,
        amount=read_amount(document.get("amount")),
        cancellation=_cancellation(document.get("cancellation_details")),
        paygate_refund_id=ours if isinstance(ours, str) else None,
    )


def read_amount(value: object) -> Money | None:
    """`{"value": "599.00", "currency": "RUB"}` as Money; None when absent or unreadable."""
    if not isinstance(value, dict):
        return None
    text, currency = value.get("value"), value.get("currency")
    if not isinstance(text, str) or not _AMOUNT_VALUE.fullmatch(text) or not isinstance(currency, str):
        return None
    try:
        return Money.from_major(Decimal(text), currency)
    except (DomainError, InvalidOperation):
        return None


def _answer(http_status: int, body: bytes) -> dict[str, Any]:
    """The JSON object of a 200 answer; raises `Refused` or `OutcomeUnknown` for every other one."""
    document = json_object(body, limit=MAX_BODY_BYTES)
    if http_status == 202:
        # Accepted, still being processed: the same request with the same key gives the result later.
        advice = document.get("retry_after") if document else None
        seconds = advice / 1000 if type(advice) is int and advice >= 0 else None  # YooKassa says milliseconds
        raise OutcomeUnknown("HTTP 202: accepted, still processing", retry_after=seconds)
    if http_status in (408, 429) or http_status >= 500 or http_status < 200 or 200 < http_status < 400:
        # Timed out, overloaded, failed, redirected: nothing says whether the operation ran, and a
        # retry with the same Idempotence-Key is safe.
        raise OutcomeUnknown(f"HTTP {http_status}")
    if http_status >= 400:
        raise _refusal(document, http_status)
    if document is None:
        raise OutcomeUnknown("empty body" if not body.strip() else "unreadable body")
    return document


def _refusal(document: dict[str, Any] | None, http_status: int) -> Refused:
    document = document or {}
    code = document.get("code")
    description = document.get("description")
    parameter = document.get("parameter")
    return Refused(
        code=code if isinstance(code, str) and code else f"http_{http_status}",
        description=(description if isinstance(description, str) and description else f"HTTP {http_status}")[
            :MAX_MESSAGE_CHARS
        ],
        parameter=parameter if isinstance(parameter, str) and parameter else None,
    )



def _cancellation(value: object) -> Cancellation | None:
    if not isinstance(value, dict):
        return None
    party, reason = value.get("party"), value.get("reason")
    if not isinstance(reason, str) or not reason:
        return None
    return Cancellation(party=party if isinstance(party, str) else "unknown", reason=reason[:100])


def _is_web_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) <= 2048


# --- Notifications ------------------------------------------------------------------------------


@attrs.frozen
class Notification:
    """What an (unsigned) notification claims: a hint to re-fetch `object_id`, never a fact."""

    event: str  # payment.succeeded, payment.waiting_for_capture, payment.canceled, refund.succeeded...
    object_id: str

    @property
    def about_payment(self) -> bool:
        return self.event.startswith(PAYMENT_EVENT_PREFIX)

    @property
    def about_refund(self) -> bool:
        return self.event.startswith(REFUND_EVENT_PREFIX)


@attrs.define(str=False)
class NotificationUnreadable(Exception):
    reason: str

    def __str__(self) -> str:
        return self.reason


def read_notification(body: bytes) -> Notification:
    """`{"type": "notification", "event": "payment.succeeded", "object": {"id": ...}}`."""
    document = json_object(body, limit=MAX_BODY_BYTES)
    if document is None:
        raise NotificationUnreadable("the body is not a JSON object")
    if document.get("type") != NOTIFICATION:
        raise NotificationUnreadable("type must be 'notification'")
    event = document.get("event")
    if not isinstance(event, str) or not _EVENT.fullmatch(event):
        raise NotificationUnreadable("event must name an event, such as payment.succeeded")
    obj = document.get("object")
    object_id = obj.get("id") if isinstance(obj, dict) else None
    if not is_object_id(object_id):
        raise NotificationUnreadable("object.id must be a YooKassa id")
    return Notification(event=event, object_id=object_id)
