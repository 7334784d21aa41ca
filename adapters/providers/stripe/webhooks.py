"""Stripe's webhooks: the `Stripe-Signature` check and what a verified event says about our payments.

Stripe signs `"{t}.{raw body}"` with HMAC-SHA256 under the endpoint's signing secret and sends
`Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`. Any v1 matching any configured secret passes
(several secrets: a rotation in progress, or the platform and Connect endpoints side by side); a
signature older than the tolerance is refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import msgspec

from domain.payment import MONEY_TAKEN, PaymentStatus

from application.errors import WebhookRejected
from application.ports import Clock, ProviderNotice, RefundNotice

from adapters.providers.stripe import wire

PROVIDER = "stripe"
TOLERANCE = timedelta(seconds=300)  # Stripe's own libraries' default
MAX_HEADER_CHARS = 4096
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")

# PaymentIntent events whose object says where the payment stands.
PAYMENT_INTENT_EVENTS = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "payment_intent.amount_capturable_updated",
        "payment_intent.processing",
        "payment_intent.requires_action",
    }
)
# Events whose `data.object` is a Refund (Stripe's OpenAPI: `refund.*`, and `charge.refund.updated`
# from before refunds had events of their own).
REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"})


class StripeWebhooks:
    """Verifies Stripe's signature, then turns the event into notices for `HandleProviderNotice`."""

    def __init__(self, *, secrets: Iterable[str], clock: Clock, tolerance: timedelta = TOLERANCE) -> None:
        self._secrets = tuple(secret.encode("utf-8") for secret in secrets if secret)
        self._clock = clock
        self._tolerance = tolerance

    def __repr__(self) -> str:
        return f"StripeWebhooks(secrets={len(self._secrets)}, tolerance={self._tolerance})"

    def notices(self, body: bytes, signature_header: str | None) -> list[ProviderNotice | RefundNotice]:
        """What a genuine event says; raises `WebhookRejected` for anything Stripe did not sign just now."""
        self.verify(body, signature_header)
        return notices_of(_event(body))

    def verify(self, body: bytes, signature_header: str | None) -> None:
        if not self._secrets:
            raise WebhookRejected(PROVIDER, "no webhook signing secret is configured (STRIPE_WEBHOOK_SECRETS)")
        if not signature_header:
            raise WebhookRejected(PROVIDER, "the Stripe-Signature header is missing")
        if len(signature_header) > MAX_HEADER_CHARS:
            raise WebhookRejected(PROVIDER, "the Stripe-Signature header is too long")
        timestamp, signatures = _parse_header(signature_header)
        signed = f"{timestamp}.".encode("ascii") + body
        matched = False
        for secret in self._secrets:
            expected = hmac.new(secret, signed, hashlib.sha256).hexdigest().encode("ascii")
            for signature in signatures:
                # Every comparison runs: how long this takes says nothing about which one matched.
                matched |= hmac.compare_digest(expected, signature)
        if not matched:
            raise WebhookRejected(PROVIDER, "no signature matches a configured signing secret")
        age = self._clock.now().timestamp() - timestamp
        if age > self._tolerance.total_seconds():
            raise WebhookRejected(
                PROVIDER, f"the signature is {int(age)} s old, older than {int(self._tolerance.total_seconds())} s"
            )


def notices_of(event: Mapping[str, Any]) -> list[ProviderNotice | RefundNotice]:
    """The notices a verified event gives; events about anything but a PaymentIntent's or a Refund's state give none.

    A snapshot that says the payment settled (authorised, paid, cancelled) is applied as it stands;
    one that says money was taken also asks for the wallet that paid (`fetch_details`).
    One that says it is still open (a failed attempt the customer may retry, processing, 3-D Secure)
    is only a hint: events arrive out of order, so the PaymentIntent is fetched again rather than
    trusting a snapshot that may be older than what we already know.
    """
    event_type = event.get("type")
    if event_type not in PAYMENT_INTENT_EVENTS and event_type not in REFUND_EVENTS:
        # charge.refunded and the rest are acknowledged: the refund events say the same per refund.
        return []
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(obj, Mapping):
        raise WebhookRejected(PROVIDER, "the event has no data.object")
    event_id = event.get("id")
    if event_type in REFUND_EVENTS:
        return [_refund_notice(obj, event_id)]
    intent = obj
    try:
        observed = wire.read_payment_intent(intent)
    except wire.Unreadable as unreadable:
        raise WebhookRejected(PROVIDER, str(unreadable)) from None
    return [
        ProviderNotice(
            provider=PROVIDER,
            external_id=observed.external_id,
            event_id=event_id if isinstance(event_id, str) and event_id else None,
            observed=None if observed.outcome is PaymentStatus.PENDING else observed,
            # Money taken: which card wallet paid is told only by the Charge, which an event names by
            # id alone (Stripe expands a field only in the answer to a request that asks for it).
            fetch_details=observed.outcome in MONEY_TAKEN and wire.names_charge_by_id(intent),
        )
    ]


def _refund_notice(refund: Mapping[str, Any], event_id: object) -> RefundNotice:
    """A signed Refund snapshot is applied as it stands: out of order it is harmless, since a
    settled refund never moves again and a pending one only teaches its id."""
    try:
        observed = wire.read_refund(refund)
    except wire.Unreadable as unreadable:
        raise WebhookRejected(PROVIDER, str(unreadable)) from None
    assert observed.external_id is not None
    return RefundNotice(
        provider=PROVIDER,
        external_id=observed.external_id,
        event_id=event_id if isinstance(event_id, str) and event_id else None,
        observed=observed,
        refund_id=wire.refund_paygate_id(refund),
    )


def _parse_header(header: str) -> tuple[int, list[bytes]]:
    timestamps: list[str] = []
    signatures: list[bytes] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            timestamps.append(value)
        elif name == "v1" and _HEX_SIGNATURE.fullmatch(value):
            signatures.append(value.encode("ascii"))
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]):
        raise WebhookRejected(PROVIDER, "the Stripe-Signature header has no readable timestamp")
    if not signatures:
        raise WebhookRejected(PROVIDER, "the Stripe-Signature header has no v1 signature")
    return int(timestamps[0]), signatures


def _event(body: bytes) -> Mapping[str, Any]:
    try:
        event = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        raise WebhookRejected(PROVIDER, "the body is not JSON") from None
    if not isinstance(event, dict) or event.get("object") != "event" or not isinstance(event.get("type"), str):
        raise WebhookRejected(PROVIDER, "the body is not a Stripe event")
    return event
