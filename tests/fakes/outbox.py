"""In-memory poller checks, event outbox and webhooks, honouring the contract of the SQL repositories."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from domain.events import Event
from domain.polling import PaymentCheck, RefundCheck
from domain.webhooks import DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookSubscription

from application.errors import ConcurrentUpdate

if TYPE_CHECKING:
    from tests.fakes.database import InMemoryDatabase


@attrs.define
class StoredEvent:
    """An outbox row: the event and where it stands."""

    event: Event
    fanned_out_at: datetime | None = None
    published_at: datetime | None = None
    publish_leased_until: datetime | None = None


def _violation(message: str) -> AssertionError:
    from tests.fakes.database import IntegrityViolation  # the database module imports this one

    return IntegrityViolation(message)


_Check = TypeVar("_Check", PaymentCheck, RefundCheck)


class InMemoryCheckRepository(Generic[_Check]):
    # The poller's payment checks, or (another `store` and `key`) its refund checks.
    # Checks are frozen; a claim or a reschedule stages a new one. A claimed check whose committed
    # row changed before this commit means two pollers claimed it: the second commit is refused.

    def __init__(self, db: InMemoryDatabase, *, store: str = "checks", key: str = "payment_id") -> None:
        self._db = db
        self._rows: dict[str, Any] = getattr(db, store)
        self._key = key
        self._staged: dict[str, _Check | None] = {}  # None: removed
        self._read: dict[str, _Check | None] = {}  # the committed rows this transaction claimed

    def _visible(self) -> dict[str, _Check]:
        rows = {**self._rows, **self._staged}
        return {k: v for k, v in rows.items() if v is not None}

    async def add(self, check: _Check) -> None:
        if getattr(check, self._key) in self._visible():
            raise _violation(f"payment {getattr(check, self._key)} checked twice")
        if check.next_check_at.tzinfo is None:
            raise _violation("naive datetime")
        self._staged[getattr(check, self._key)] = check

    async def get(self, payment_id: str) -> _Check | None:
        return self._visible().get(payment_id)

    async def claim_due(
        self, *, due_by: datetime, now: datetime, lease_until: datetime, limit: int
    ) -> Sequence[_Check]:
        due = sorted(
            (
                c for c in self._visible().values()
                if c.next_check_at <= due_by and (c.leased_until is None or c.leased_until <= now)
            ),
            key=lambda c: (c.next_check_at, getattr(c, self._key)),
        )[:limit]
        claimed: list[_Check] = []
        for check in due:
            self._read.setdefault(getattr(check, self._key), self._rows.get(getattr(check, self._key)))
            leased = attrs.evolve(check, leased_until=lease_until)
            self._staged[getattr(check, self._key)] = leased
            claimed.append(leased)
        return claimed

    async def reschedule(self, checks: Sequence[_Check]) -> None:
        for check in checks:
            if getattr(check, self._key) in self._visible():
                self._staged[getattr(check, self._key)] = attrs.evolve(check, leased_until=None)

    async def remove(self, payment_id: str) -> None:
        if payment_id in self._visible():
            self._staged[payment_id] = None

    def check(self, payments: set[str]) -> None:
        for payment_id, check in self._staged.items():
            if check is not None and payment_id not in payments:
                raise _violation(f"check of unknown payment {payment_id}")
        for payment_id, read in self._read.items():
            if self._rows.get(payment_id) != read:
                raise ConcurrentUpdate(payment_id)

    def write(self) -> None:
        for payment_id, check in self._staged.items():
            if check is None:
                self._rows.pop(payment_id, None)
            else:
                self._rows[payment_id] = check


class InMemoryOutboxRepository:
    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db
        self._added: list[StoredEvent] = []
        self._changed: dict[str, StoredEvent] = {}

    def _rows(self) -> list[StoredEvent]:
        committed = [self._changed.get(r.event.id, r) for r in self._db.events]
        return committed + self._added

    def _ordered(self, rows: list[StoredEvent]) -> list[StoredEvent]:
        return sorted(rows, key=lambda r: (r.event.occurred_at, r.event.payment_id, r.event.sequence or 0))

    async def add(self, event: Event) -> None:
        if any(r.event.id == event.id for r in self._rows()):
            raise _violation(f"event {event.id} added twice")
        if event.occurred_at.tzinfo is None:
            raise _violation("naive datetime")
        sequence = 1 + max((r.event.sequence or 0 for r in self._rows() if r.event.payment_id == event.payment_id), default=0)
        self._added.append(StoredEvent(attrs.evolve(event, sequence=sequence)))

    async def get(self, event_id: str) -> Event | None:
        return next((r.event for r in self._rows() if r.event.id == event_id), None)

    async def list_for_payment(self, payment_id: str) -> Sequence[Event]:
        return sorted((r.event for r in self._rows() if r.event.payment_id == payment_id), key=lambda e: e.sequence or 0)

    async def claim_unfanned(self, *, limit: int) -> Sequence[Event]:
        return [r.event for r in self._ordered([r for r in self._rows() if r.fanned_out_at is None])[:limit]]

    async def mark_fanned_out(self, event_ids: Sequence[str], at: datetime) -> None:
        self._change(event_ids, fanned_out_at=at)

    async def claim_unpublished(self, *, now: datetime, lease_until: datetime, limit: int) -> Sequence[Event]:
        free = [
            r for r in self._rows()
            if r.published_at is None and (r.publish_leased_until is None or r.publish_leased_until <= now)
        ]
        claimed = self._ordered(free)[:limit]
        self._change([r.event.id for r in claimed], publish_leased_until=lease_until)
        return [r.event for r in claimed]

    async def mark_published(self, event_ids: Sequence[str], at: datetime) -> None:
        self._change(event_ids, published_at=at, publish_leased_until=None)

    def _change(self, event_ids: Sequence[str], **changes: datetime | None) -> None:
        for row in self._rows():
            if row.event.id in event_ids:
                changed = copy.copy(row)  # a StoredEvent has no validators: setting fields is all evolve did
                for name, value in changes.items():
                    setattr(changed, name, value)
                if row in self._added:
                    self._added[self._added.index(row)] = changed
                else:
                    self._changed[row.event.id] = changed

    def added(self) -> list[StoredEvent]:
        return list(self._added)

    def check(self, payments: set[str]) -> None:
        taken = {(r.event.payment_id, r.event.sequence) for r in self._db.events}
        for row in self._added:
            if row.event.payment_id not in payments:
                raise _violation(f"event {row.event.id} of unknown payment {row.event.payment_id}")
            if (row.event.payment_id, row.event.sequence) in taken:
                raise _violation(f"payment {row.event.payment_id} has two events numbered {row.event.sequence}")

    def write(self) -> None:
        self._db.events[:] = [self._changed.get(r.event.id, r) for r in self._db.events] + self._added


class InMemoryWebhookRepository:
    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db
        self._subscriptions: dict[str, WebhookSubscription] = {}
        self._deliveries: dict[str, WebhookDelivery] = {}
        self._attempts: list[DeliveryAttempt] = []

    def _all_subscriptions(self) -> dict[str, WebhookSubscription]:
        return {**self._db.subscriptions, **self._subscriptions}

    def _all_deliveries(self) -> dict[str, WebhookDelivery]:
        return {**self._db.deliveries, **self._deliveries}

    async def add_subscription(self, subscription: WebhookSubscription) -> None:
        if subscription.id in self._all_subscriptions():
            raise _violation(f"subscription {subscription.id} added twice")
        self._subscriptions[subscription.id] = subscription

    async def get_subscription(self, subscription_id: str) -> WebhookSubscription | None:
        return self._all_subscriptions().get(subscription_id)

    async def list_subscriptions(self, *, active_only: bool) -> Sequence[WebhookSubscription]:
        found = [s for s in self._all_subscriptions().values() if s.is_active or not active_only]
        return sorted(found, key=lambda s: (s.created_at, s.id))

    async def update_subscription(self, subscription: WebhookSubscription) -> None:
        self._subscriptions[subscription.id] = subscription

    async def add_delivery(self, delivery: WebhookDelivery) -> None:
        existing = self._all_deliveries().values()
        if any((d.subscription_id, d.event_id) == (delivery.subscription_id, delivery.event_id) for d in existing):
            raise _violation(f"event {delivery.event_id} delivered twice to {delivery.subscription_id}")
        self._deliveries[delivery.id] = copy.deepcopy(delivery)

    async def get_delivery(self, delivery_id: str) -> WebhookDelivery | None:
        return copy.deepcopy(self._all_deliveries().get(delivery_id))

    async def update_delivery(self, delivery: WebhookDelivery) -> None:
        self._deliveries[delivery.id] = copy.deepcopy(delivery)

    async def list_deliveries(
        self,
        *,
        event_id: str | None = None,
        subscription_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> Sequence[WebhookDelivery]:
        found = [
            d for d in self._all_deliveries().values()
            if (event_id is None or d.event_id == event_id)
            and (subscription_id is None or d.subscription_id == subscription_id)
            and (status is None or d.matches(status))
        ]
        found.sort(key=lambda d: (d.created_at, d.id), reverse=True)
        return [copy.deepcopy(d) for d in found[:limit]]

    async def claim_due_deliveries(
        self, *, now: datetime, lease_until: datetime, limit: int
    ) -> Sequence[WebhookDelivery]:
        deliveries = self._all_deliveries()
        unfanned = [r.event for r in self._db.events if r.fanned_out_at is None]
        pending = [d for d in deliveries.values() if d.status is DeliveryStatus.PENDING]

        def waits(d: WebhookDelivery) -> bool:
            return any(
                e.subscription_id == d.subscription_id and e.payment_id == d.payment_id and e.sequence < d.sequence
                for e in pending
            ) or any(e.payment_id == d.payment_id and (e.sequence or 0) < d.sequence for e in unfanned)

        due = sorted((d for d in pending if d.next_attempt_at <= now and not waits(d)), key=lambda d: (d.next_attempt_at, d.id))
        claimed = []
        for delivery in due[:limit]:
            leased = copy.deepcopy(delivery)
            leased.next_attempt_at = lease_until
            self._deliveries[leased.id] = leased
            claimed.append(copy.deepcopy(leased))
        return claimed

    async def add_attempt(self, attempt: DeliveryAttempt) -> None:
        if attempt.delivery_id not in self._all_deliveries():
            raise _violation(f"attempt of unknown delivery {attempt.delivery_id}")
        self._attempts.append(attempt)

    async def attempts_of(self, delivery_ids: Sequence[str]) -> Sequence[DeliveryAttempt]:
        return [a for a in [*self._db.attempts, *self._attempts] if a.delivery_id in delivery_ids]

    def check(self, events: set[str]) -> None:
        for delivery in self._deliveries.values():
            if delivery.event_id not in events:
                raise _violation(f"delivery of unknown event {delivery.event_id}")
            if delivery.subscription_id not in self._all_subscriptions():
                raise _violation(f"delivery to unknown subscription {delivery.subscription_id}")

    def write(self) -> None:
        self._db.subscriptions.update(self._subscriptions)
        self._db.deliveries.update(self._deliveries)
        for attempt in self._attempts:
            self._db.attempts.append(attrs.evolve(attempt, id=len(self._db.attempts) + 1))
