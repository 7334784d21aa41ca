"""Outgoing webhooks: the marketplace's subscriptions, and each event's delivery to each of them."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import attrs

from domain.errors import InvalidValue
from domain.events import EVENT_TYPES, EventType

MAX_URL = 2048
MAX_DESCRIPTION = 255

# When a failed delivery is tried again, after each failure in turn: about 24 hours in all
# (the schedule Hyperswitch settled on). One first attempt plus these retries, then dead-letter.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(minutes=1),
    *(timedelta(minutes=5),) * 2,
    *(timedelta(minutes=10),) * 5,
    *(timedelta(hours=1),) * 5,
    *(timedelta(hours=6),) * 3,
)


def check_webhook_url(url: str) -> str:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or len(url) > MAX_URL or parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidValue("url", f"url must be an http(s) URL of at most {MAX_URL} characters")
    if parts.username or parts.password:
        # Credentials in a URL end up in logs and listings; the signature authenticates us instead.
        raise InvalidValue("url", "url must not carry a user name or password")
    return url


def check_event_types(types: Iterable[str]) -> frozenset[EventType]:
    wanted = list(types)
    unknown = sorted(set(wanted) - {t.value for t in EVENT_TYPES})
    if unknown:
        raise InvalidValue("event_types", f"unknown event type {unknown[0]!r}")
    if not wanted:
        raise InvalidValue("event_types", "name at least one event type")
    return frozenset(EventType(t) for t in wanted)


@attrs.frozen(repr=False)
class WebhookSubscription:
    """Where the marketplace wants events sent. The secret signs every delivery; it is never shown again."""

    id: str
    url: str
    event_types: frozenset[EventType]
    secret: str
    is_active: bool
    created_at: datetime
    updated_at: datetime
    description: str = ""

    def wants(self, event_type: str) -> bool:
        return self.is_active and event_type in self.event_types

    def __repr__(self) -> str:
        return f"WebhookSubscription(id={self.id!r}, url={self.url!r}, secret=***)"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    DELIVERED = "delivered"  # the receiver answered 2xx
    DEAD = "dead"  # every retry failed: kept for an operator to redeliver
    CANCELLED = "cancelled"  # its subscription was deleted before it got through
    BLOCKED = "blocked"  # its target is not allowed (WebhookTargetRules): never sent, never retried


# A pending delivery whose last attempt failed: waiting for its retry. Not a status of its own (it is
# `pending`), but a word operators filter by, because the dispatcher's summary and the metrics use it.
RETRYING = "retrying"
# What `GET /admin/webhooks/deliveries?status=` accepts: every status, and every word the
# dispatcher's summary counts deliveries by (`delivered`, `retrying`, `dead`).
DELIVERY_FILTERS = (*(status.value for status in DeliveryStatus), RETRYING)


@attrs.define(eq=False)
class WebhookDelivery:
    """One event on its way to one subscription; `attempts` counts the tries since it was (re)queued."""

    id: str
    subscription_id: str
    event_id: str
    event_type: str
    payment_id: str
    sequence: int
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    last_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None

    def matches(self, word: str) -> bool:
        """Whether the delivery is what `word` (one of DELIVERY_FILTERS) names."""
        if word == RETRYING:
            return self.status is DeliveryStatus.PENDING and self.attempts > 0
        return self.status.value == word

    def succeeded(self, *, at: datetime, status_code: int) -> None:
        self._attempted(at, status_code, None)
        self.status = DeliveryStatus.DELIVERED
        self.delivered_at = at

    def failed(self, *, at: datetime, status_code: int | None, error: str) -> None:
        """Schedule the next retry, or dead-letter the delivery once the schedule is spent."""
        self._attempted(at, status_code, error)
        if self.attempts > len(RETRY_DELAYS):
            self.status = DeliveryStatus.DEAD
        else:
            self.next_attempt_at = at + RETRY_DELAYS[self.attempts - 1]

    def block(self, *, at: datetime, reason: str) -> None:
        """Refused before any request: final, since retrying cannot help until an operator allows the target."""
        self._attempted(at, None, reason)
        self.status = DeliveryStatus.BLOCKED

    def requeue(self, *, at: datetime) -> None:
        """An operator's redelivery: due now, with the whole retry schedule ahead of it again."""
        self.status = DeliveryStatus.PENDING
        self.attempts = 0
        self.next_attempt_at = at
        self.updated_at = at

    def cancel(self, *, at: datetime) -> None:
        self.status = DeliveryStatus.CANCELLED
        self.updated_at = at

    def _attempted(self, at: datetime, status_code: int | None, error: str | None) -> None:
        self.attempts += 1
        self.last_attempt_at = at
        self.last_status_code = status_code
        self.last_error = error
        self.updated_at = at


@attrs.frozen
class DeliveryAttempt:
    """One HTTP request to a receiver, kept whatever its outcome."""

    delivery_id: str
    attempted_at: datetime
    succeeded: bool
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    id: int | None = None
