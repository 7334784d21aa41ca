"""CloudPayments' wire as the simulator speaks it, from CloudPayments' API documentation
(developers.cloudpayments.ru): transaction statuses, the JSON envelope, the notifications' kinds,
formats, answer codes and HMAC. Its own definitions, never the adapter's, so a misreading of the API
in the adapter is not silently shared by the simulator that checks it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import msgspec

# The currencies CloudPayments accepts for a payment.
CURRENCIES = frozenset({"RUB", "KZT", "USD", "EUR", "GBP", "BYN", "UZS", "TRY", "CNY"})
# The header a caller may send so a retried request is recognised; the answer carries it back.
REQUEST_ID_HEADER = "X-Request-ID"

# Transaction statuses.
AWAITING_AUTHENTICATION = "AwaitingAuthentication"
AUTHORIZED = "Authorized"
COMPLETED = "Completed"
CANCELLED = "Cancelled"
DECLINED = "Declined"

# Notification kinds, as the paths a site configures for them name them.
CHECK, PAY, FAIL, CONFIRM, REFUND, CANCEL = "check", "pay", "fail", "confirm", "refund", "cancel"
# How a site receives notifications: form-encoded (the default) or JSON.
FORM = "form"
JSON = "json"
# The site's answer `{"code": 0}` lets a payment go on (any other code stops it at Check).
ACCEPTED = 0

# Compact UTF-8 JSON, a Decimal written as the JSON number it spells (amounts are numbers in major units).
_ENCODER = msgspec.json.Encoder(decimal_format="number")


def encode(body: Mapping[str, Any]) -> bytes:
    """A JSON body with Decimals written digit for digit (amounts are JSON numbers in major units)."""
    return _ENCODER.encode(dict(body))


def sign(body: bytes, secret: str) -> str:
    """`Content-HMAC`: base64 of the HMAC-SHA256 of the body under the site's API secret."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def encode_notification(fields: Mapping[str, Any], notification_format: str) -> tuple[bytes, str]:
    """A notification body and its content type, as CloudPayments sends it to a site."""
    if notification_format == JSON:
        return encode(fields), "application/json"
    if notification_format != FORM:
        raise ValueError(f"notification format must be {FORM} or {JSON}")
    return urlencode({name: _as_text(value) for name, value in fields.items()}).encode("utf-8"), (
        "application/x-www-form-urlencoded"
    )


def _as_text(value: Any) -> str:
    """A field as a form carries it: booleans as 1/0, nested data as compact JSON, nothing as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str | int | Decimal):
        return str(value)
    return _ENCODER.encode(value).decode("utf-8")
