"""CloudPayments' JSON: request bodies with exact amounts, the answer envelope, orders, transactions, statuses."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
import msgspec

from domain.money import Money
from domain.payment import PaymentStatus

from adapters.providers.json_answers import json_object

MAX_BODY_BYTES = 1_000_000
MAX_MESSAGE_CHARS = 500

# Transaction statuses (a transaction is one attempt to pay an order).
AWAITING_AUTHENTICATION = "AwaitingAuthentication"  # 3-D Secure in progress
AUTHORIZED = "Authorized"  # two-step: funds held until confirm or void
COMPLETED = "Completed"
CANCELLED = "Cancelled"
DECLINED = "Declined"
# Our name for an order nobody has paid yet: what orders/create answers, and what payments/find's
# "Not found" means for an order we created (no transaction carries its InvoiceId yet).
ORDER_CREATED = "Created"

_OUTCOMES = {
    ORDER_CREATED: PaymentStatus.PENDING,
    AWAITING_AUTHENTICATION: PaymentStatus.PENDING,
    AUTHORIZED: PaymentStatus.AUTHORIZED,
    COMPLETED: PaymentStatus.SUCCEEDED,
    CANCELLED: PaymentStatus.CANCELLED,
    # A declined attempt leaves the order payable: the customer may try again on the same link, so
    # only the order's end (paid, or cancelled when it expires) is the payment's final word.
    DECLINED: PaymentStatus.PENDING,
}


def payment_status(status: str) -> PaymentStatus:
    """Our state for a CloudPayments status; anything unrecognised stays pending (never guess a final state)."""
    return _OUTCOMES.get(status, PaymentStatus.PENDING)


# --- Requests -------------------------------------------------------------------------------------


def amount(money: Money) -> Decimal:
    """The amount as CloudPayments takes it: a JSON number in major units, exactly (`599.50`, `100`)."""
    # major_text never uses an exponent, so the Decimal (and the JSON written from it) is plain digits.
    return Decimal(money.major_text())


# Compact UTF-8 JSON, fields in the order given, a Decimal written as the number it spells (`599.50`,
# not `"599.50"`); CloudPayments signs (and we check) a JSON notification's exact bytes.
ENCODER = msgspec.json.Encoder(decimal_format="number")


def encode(body: Mapping[str, Any]) -> bytes:
    """A JSON request body; Decimals are written digit for digit, and a float is refused outright."""
    for name, value in body.items():
        if isinstance(value, float):
            raise TypeError(f"{name} is a float; amounts go to CloudPayments as Decimal")
    return ENCODER.encode(dict(body))


# --- What a call can end in besides success -------------------------------------------------------


@attrs.define(str=False)
class CloudPaymentsDeclined(Exception):
    """CloudPayments gave a definite no (Success=false, bad credentials, a refused request): nothing happened."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@attrs.define(str=False)
class CloudPaymentsOutcomeUnknown(Exception):
    """The answer does not tell whether the operation happened (5xx, 429, garbage, an unreadable model)."""

    reason: str

    def __str__(self) -> str:
        return self.reason


# --- Answers --------------------------------------------------------------------------------------


@attrs.frozen
class Envelope:
    """Every answer: `{"Success": bool, "Message": str|null, "Model": {...}}`."""

    success: bool
    message: str | None
    model: Any


@attrs.frozen
class OrderCreated:
    order_id: str
    url: str


@attrs.frozen
class Transaction:
    transaction_id: str
    status: str
    invoice_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    reason: str | None = None
    reason_code: int | None = None


def read_envelope(http_status: int, body: bytes) -> Envelope:
    if http_status in (408, 429) or not 200 <= http_status < 500 or 300 <= http_status < 400:
        # Overload, a server error, a redirect: nothing says whether the operation ran.
        raise CloudPaymentsOutcomeUnknown(f"HTTP {http_status}")
    if http_status in (401, 403):
        raise CloudPaymentsDeclined(
            "unauthorized", f"CloudPayments refused the route's public id or API secret (HTTP {http_status})"
        )
    document = json_object(body, limit=MAX_BODY_BYTES)
    if http_status >= 400:
        # CloudPayments refused the request itself (validation, unknown method): a definite no.
        message = _message(document.get("Message")) if document is not None else None
        raise CloudPaymentsDeclined(f"http_{http_status}", message or f"CloudPayments answered HTTP {http_status}")
    if document is None:
        raise CloudPaymentsOutcomeUnknown("empty body" if not body.strip() else "unreadable body")
    success = document.get("Success")
    if not isinstance(success, bool):
        raise CloudPaymentsOutcomeUnknown("the answer has no Success flag")
    return Envelope(success=success, message=_message(document.get("Message")), model=document.get("Model"))


def refusal(envelope: Envelope) -> CloudPaymentsDeclined:
    """The definite no of a Success=false answer, with the reason CloudPayments gave."""
    model = envelope.model if isinstance(envelope.model, dict) else {}
    reason_code = model.get("ReasonCode")
    code = f"reason_{reason_code}" if type(reason_code) is int and reason_code != 0 else "declined"
    message = envelope.message or _message(model.get("CardHolderMessage")) or _message(model.get("Reason"))
    return CloudPaymentsDeclined(code, message or "CloudPayments refused the request")


def read_order(envelope: Envelope) -> OrderCreated:
    model = envelope.model
    if not isinstance(model, dict):
        raise CloudPaymentsOutcomeUnknown("orders/create answered success without a Model")
    order_id = model.get("Id")
    url = model.get("Url")
    if not isinstance(order_id, str) or not order_id.strip() or not isinstance(url, str) or not _is_http_url(url):
        raise CloudPaymentsOutcomeUnknown("orders/create answered success without a readable Id and Url")
    if order_id_of(url) != order_id.strip():
        # The link is where the order's Id is kept (to cancel it at expiry): it must name the order.
        raise CloudPaymentsOutcomeUnknown("orders/create answered a Url that does not end with the order's Id")
    return OrderCreated(order_id=order_id.strip(), url=url)


def read_transaction(model: object) -> Transaction:
    if not isinstance(model, dict):
        raise CloudPaymentsOutcomeUnknown("the answer has no transaction Model")
    transaction_id = identifier(model.get("TransactionId"))
    status = model.get("Status")
    if transaction_id is None or not isinstance(status, str) or not status.strip():
        raise CloudPaymentsOutcomeUnknown("the transaction has no readable TransactionId and Status")
    invoice_id = model.get("InvoiceId")
    currency = model.get("Currency")
    reason_code = model.get("ReasonCode")
    return Transaction(
        transaction_id=transaction_id,
        status=status.strip(),
        invoice_id=invoice_id if isinstance(invoice_id, str) else None,
        amount=decimal_amount(model.get("Amount")),
        currency=currency if isinstance(currency, str) else None,
        reason=_message(model.get("Reason")),
        reason_code=reason_code if type(reason_code) is int else None,
    )


def order_id_of(url: str | None) -> str | None:
    """The order's Id, the last segment of the link CloudPayments forms from it (`.../d/<Id>`)."""
    if not url:
        return None
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return tail if tail.isascii() and tail.isalnum() else None


def read_refund(envelope: Envelope) -> str | None:
    """The refund's own TransactionId; None when the answer names none (the refund happened all the same)."""
    model = envelope.model
    return identifier(model.get("TransactionId")) if isinstance(model, dict) else None


def carries_transaction(envelope: Envelope) -> bool:
    model = envelope.model
    return isinstance(model, dict) and "TransactionId" in model and "Status" in model


def is_not_found(envelope: Envelope) -> bool:
    return not envelope.success and envelope.model is None and (envelope.message or "").strip().lower() == "not found"


# --- Values ---------------------------------------------------------------------------------------


def identifier(value: object) -> str | None:
    """TransactionIds are int64; they arrive as JSON integers or, in form notifications, as digit strings."""
    if type(value) is int and value >= 0:
        return str(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 19:
        return value.strip()
    return None


def decimal_amount(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        return None
    try:
        result = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        return None
    return result if result.is_finite() else None



def _message(value: object) -> str | None:
    return value.strip()[:MAX_MESSAGE_CHARS] if isinstance(value, str) and value.strip() else None


def _is_http_url(url: str) -> bool:
    return url.startswith(("https://", "http://")) and len(url) <= 2048 and url.isprintable() and " " not in url
