"""The wire form of an event, shared by webhooks and the broker, and the webhook signature."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import msgspec

from domain.events import Event

EVENT_ID_HEADER = "Paygate-Event-Id"
EVENT_TYPE_HEADER = "Paygate-Event-Type"
SIGNATURE_HEADER = "Paygate-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300
# Compact UTF-8, keys sorted: the same event is the same bytes on every (re)delivery and publish.
_BODY = msgspec.json.Encoder(order="sorted")


def event_document(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type.value,
        "occurred_at": event.occurred_at.isoformat(),
        "payment_id": event.payment_id,
        "sequence": event.sequence,
        "data": dict(event.data),
    }


def event_body(event: Event) -> bytes:
    """The exact bytes sent (and signed): compact UTF-8 JSON."""
    return _BODY.encode(event_document(event))


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of `<timestamp>.<body>` with the subscription's secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify_signature(
    secret: str, header: str, body: bytes, *, now: int, tolerance: int = SIGNATURE_TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: any `v1` matching (constant-time) and a timestamp within `tolerance` of `now`."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
