"""CloudPayments notifications: the HMAC that proves where they came from, and their fields, form or JSON."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import attrs

from domain.payment import PaymentStatus

from adapters.providers.cloudpayments import wire

# The kinds a site can send, as they appear in our webhook paths (`/webhooks/cloudpayments/pay`).
CHECK, PAY, FAIL, CONFIRM, REFUND, CANCEL = "check", "pay", "fail", "confirm", "refund", "cancel"
KINDS = (CHECK, PAY, FAIL, CONFIRM, REFUND, CANCEL)
# CloudPayments sends both; they differ only in how the signed bytes were URL-encoded, so one of them
# matches the raw body we received, and that is the one we trust.
SIGNATURE_HEADERS = ("content-hmac", "x-content-hmac")
MAX_BODY_BYTES = 64 * 1024
# Our payment ids are at most this long; a longer InvoiceId is not one of ours and no column holds it.
MAX_INVOICE_ID = 64
FORM = "form"
JSON = "json"

# The answers CloudPayments understands (`{"code": N}`); only Check's answer can stop a payment.
# (11 is an invalid AccountId, which Paygate never answers: the customer id is ours to give, not to check.)
ACCEPTED = 0
UNKNOWN_INVOICE = 10
WRONG_AMOUNT = 12
REJECTED = 13
EXPIRED = 20

# The transaction status a notification of each kind reports when it carries none itself.
_IMPLIED_STATUS = {FAIL: wire.DECLINED, CONFIRM: wire.COMPLETED, CANCEL: wire.CANCELLED}


_V = TypeVar("_V")


class UnreadableNotification(ValueError):
    """The body is not a notification we can read (not UTF-8, not form or JSON, duplicate fields)."""


def sign(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(body, ApiSecret)): the value of `Content-HMAC` and `X-Content-HMAC`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_valid(body: bytes, secret: str, signatures: Iterable[str]) -> bool:
    """True when any of the signatures is the body's HMAC under `secret`; compared in constant time."""
    if not secret:
        return False
    expected = sign(body, secret).encode("ascii")
    valid = False
    for signature in signatures:
        # Every candidate is compared, so the time taken does not tell which header matched.
        valid |= hmac.compare_digest(expected, signature.strip().encode("utf-8", errors="replace"))
    return valid


@attrs.frozen
class Notification:
    """One notification's fields as text, whatever format it came in."""

    fields: Mapping[str, str]

    def get(self, name: str) -> str | None:
        value = self.fields.get(name)
        return value if value else None

    @property
    def invoice_id(self) -> str | None:
        return self.get("InvoiceId")

    @property
    def transaction_id(self) -> str | None:
        return wire.identifier(self.get("TransactionId"))

    @property
    def amount(self) -> Decimal | None:
        return wire.decimal_amount(self.get("Amount"))

    @property
    def currency(self) -> str | None:
        return self.get("Currency")

    def status(self, kind: str) -> str | None:
        """The transaction status this notification reports (Check and Pay carry it; others imply it)."""
        return self.get("Status") or _IMPLIED_STATUS.get(kind)

    def observed_outcome(self, kind: str) -> PaymentStatus | None:
        """What the notification says about the payment, or None when it says nothing we can act on.

        A decline (Fail) is not the payment's end: the customer may retry, so it is a hint to re-fetch.
        """
        status = self.status(kind)
        if status is None or status not in (wire.AUTHORIZED, wire.COMPLETED, wire.CANCELLED):
            return None
        return wire.payment_status(status)


def parse(body: bytes, content_type: str | None) -> Notification:
    if not body.strip():
        raise UnreadableNotification("empty body")
    if len(body) > MAX_BODY_BYTES:
        raise UnreadableNotification("body too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableNotification("body is not UTF-8") from None
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type == "application/json" or (not media_type and text.lstrip().startswith("{")):
        fields = _json_fields(text)
    else:
        fields = _form_fields(text)
    return Notification(_storable(fields))


def _storable(fields: dict[str, str]) -> dict[str, str]:
    """Refuse what no column can hold: a NUL anywhere (PostgreSQL text refuses it), an unpaired
    surrogate (JSON can spell `\\ud800`; UTF-8 cannot encode it), an over-long InvoiceId."""
    for name, value in fields.items():
        if "\x00" in name or "\x00" in value:
            raise UnreadableNotification(f"field {name[:64]!r} holds a NUL character")
        if _has_surrogate(name) or _has_surrogate(value):
            raise UnreadableNotification(f"field {name[:64]!r} holds an unpaired surrogate")
    if len(fields.get("InvoiceId", "")) > MAX_INVOICE_ID:
        raise UnreadableNotification(f"InvoiceId is longer than {MAX_INVOICE_ID} characters")
    return fields


def _form_fields(text: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, encoding="utf-8", errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise UnreadableNotification("body is not a form") from None
    return _no_duplicates(pairs)


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)


def _no_duplicates(pairs: Iterable[tuple[str, _V]]) -> dict[str, _V]:
    result: dict[str, _V] = {}
    for name, value in pairs:
        if name in result:
            # Which of two InvoiceIds would be "the" one is a question an attacker would like us to answer.
            raise UnreadableNotification(f"field {name} appears twice")
        result[name] = value
    return result


def _not_a_number(spelling: str) -> Any:
    raise UnreadableNotification(f"{spelling} is not a JSON number")


def _json_fields(text: str) -> dict[str, str]:
    # The standard library's parser, not msgspec: msgspec keeps the last of two equal keys without a
    # word (msgspec issue #648) and has no hook that sees each pair, and a notification with two
    # InvoiceIds must be refused, not read one way here and another way by whoever signed it.
    # Otherwise it reads as msgspec does: fractions exact (Decimal), NaN and Infinity refused.
    try:
        document = json.loads(text, parse_float=Decimal, parse_constant=_not_a_number, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as error:
        if isinstance(error, UnreadableNotification):
            raise
        raise UnreadableNotification("body is not JSON") from None
    if not isinstance(document, dict):
        raise UnreadableNotification("body is not a JSON object")
    return {name: shown for name, value in document.items() if (shown := _as_text(name, value)) is not None}


def _as_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal):
        return str(value)
    # Data and the like: nested JSON kept as compact text.
    try:
        return wire.ENCODER.encode(value).decode()
    except UnicodeEncodeError:
        raise UnreadableNotification(f"field {name[:64]!r} holds an unpaired surrogate") from None


def encode(fields: Mapping[str, Any], notification_format: str) -> tuple[bytes, str]:
    """A notification body and its content type, as CloudPayments sends it (the simulator's side)."""
    if notification_format == JSON:
        return wire.encode(fields), "application/json"
    if notification_format != FORM:
        raise ValueError(f"notification format must be {FORM} or {JSON}")
    text = {name: _as_text(name, value) or "" for name, value in fields.items()}
    return urlencode(text).encode("utf-8"), "application/x-www-form-urlencoded"
