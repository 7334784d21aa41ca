"""Lifecycle events: what happened to a payment or a refund, told to the marketplace in order."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

from domain.payment import PaymentStatus


class EventType(enum.StrEnum):
    PAYMENT_CREATED = "payment.created"
    PAYMENT_AUTHORIZED = "payment.authorized"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_CANCELLED = "payment.cancelled"
    PAYMENT_EXPIRED = "payment.expired"
    # A customer's attempt was declined; the payment stays pending for a retry (no state change).
    PAYMENT_ATTEMPT_FAILED = "payment.attempt_failed"
    # The provider took the money after Paygate had closed the payment: an operator must look.
    PAYMENT_LATE_SUCCESS = "payment.late_success"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"


EVENT_TYPES = frozenset(EventType)


def settlement_event(status: PaymentStatus) -> EventType:
    """The event telling that an open payment reached `status`."""
    return EventType(f"payment.{status.value}")


def _freeze(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(data))


@attrs.frozen
class Event:
    """One event of one payment, as stored in the outbox in the transaction of the change it tells.

    `sequence` numbers a payment's events from 1 in the order they happened; the outbox assigns it,
    so it is None only before the event is stored. `data` holds the payment's public fields (JSON
    values only: never a credential, never a full phone number).
    """

    id: str
    type: EventType
    payment_id: str
    occurred_at: datetime
    data: Mapping[str, Any] = attrs.field(converter=_freeze)
    sequence: int | None = None
