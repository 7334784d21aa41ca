"""The event outbox and the outgoing webhooks (subscriptions, deliveries, attempts) on SQLAlchemy Core."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Row, and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.events import Event, EventType
from domain.webhooks import RETRYING, DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookSubscription

from application.errors import SecretUnreadable
from application.ports import SecretCipher

from adapters.persistence.tables import outbox_events, webhook_attempts, webhook_deliveries, webhook_subscriptions

# --- The outbox ------------------------------------------------------------------------------------


def _event_from_row(row: Row[Any]) -> Event:
    return Event(
        id=row.id,
        type=EventType(row.type),
        payment_id=row.payment_id,
        occurred_at=row.occurred_at,
        data=json.loads(row.payload),
        sequence=row.sequence,
    )


def _in_order(query: Any) -> Any:
    c = outbox_events.c
    return query.order_by(c.occurred_at, c.payment_id, c.sequence)


# The event's number within its payment, computed in the INSERT itself. Every writer of a payment's
# events holds the payment's row lock, so no two can take the same number; the unique constraint is
# the backstop. One constant statement: SQLAlchemy compiles it once, values travel as parameters.
_OF_PAYMENT = "_of_payment"
_ADD_EVENT = insert(outbox_events).values(
    sequence=select(func.coalesce(func.max(outbox_events.c.sequence), 0) + 1)
    .where(outbox_events.c.payment_id == bindparam(_OF_PAYMENT))
    .scalar_subquery()
)


_PAYLOAD = msgspec.json.Encoder(order="sorted")


def event_payload(event: Event) -> str:
    """How an event's data is stored: JSON, non-ASCII as it is, keys sorted.

    msgspec rather than `json`: a payment's view is some thirty fields, two events per create
    (docs/performance.md). Read back by `json.loads`, so only the blanks differ from before.
    """
    return _PAYLOAD.encode(dict(event.data)).decode()


class SqlAlchemyOutboxRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, event: Event) -> None:
        await self._connection.execute(
            _ADD_EVENT,
            {
                "id": event.id,
                "payment_id": event.payment_id,
                _OF_PAYMENT: event.payment_id,
                "type": event.type.value,
                "occurred_at": event.occurred_at,
                "payload": event_payload(event),
            },
        )

    async def get(self, event_id: str) -> Event | None:
        row = (
            await self._connection.execute(select(outbox_events).where(outbox_events.c.id == event_id))
        ).one_or_none()
        return None if row is None else _event_from_row(row)

    async def list_for_payment(self, payment_id: str) -> Sequence[Event]:
        rows = await self._connection.execute(
            select(outbox_events).where(outbox_events.c.payment_id == payment_id).order_by(outbox_events.c.sequence)
        )
        return [_event_from_row(row) for row in rows]

    async def claim_unfanned(self, *, limit: int) -> Sequence[Event]:
        query = _in_order(select(outbox_events).where(outbox_events.c.fanned_out_at.is_(None)))
        rows = await self._connection.execute(query.limit(limit).with_for_update(skip_locked=True))
        return [_event_from_row(row) for row in rows]

    async def mark_fanned_out(self, event_ids: Sequence[str], at: datetime) -> None:
        if event_ids:
            await self._connection.execute(
                update(outbox_events).where(outbox_events.c.id.in_(event_ids)).values(fanned_out_at=at)
            )

    async def claim_unpublished(self, *, now: datetime, lease_until: datetime, limit: int) -> Sequence[Event]:
        c = outbox_events.c
        query = _in_order(
            select(outbox_events).where(
                c.published_at.is_(None), or_(c.publish_leased_until.is_(None), c.publish_leased_until <= now)
            )
        )
        rows = (await self._connection.execute(query.limit(limit).with_for_update(skip_locked=True))).all()
        if rows:
            await self._connection.execute(
                update(outbox_events).where(c.id.in_([r.id for r in rows])).values(publish_leased_until=lease_until)
            )
        return [_event_from_row(row) for row in rows]

    async def mark_published(self, event_ids: Sequence[str], at: datetime) -> None:
        if event_ids:
            await self._connection.execute(
                update(outbox_events)
                .where(outbox_events.c.id.in_(event_ids))
                .values(published_at=at, publish_leased_until=None)
            )


# --- Webhooks --------------------------------------------------------------------------------------


def retrying_deliveries() -> Any:
    """Deliveries waiting for a retry: pending after a failed attempt (`WebhookDelivery.matches`)."""
    c = webhook_deliveries.c
    return and_(c.status == DeliveryStatus.PENDING.value, c.attempts > 0)


# Every secret Paygate generates starts so (application/manage_webhooks.py); a ciphertext never does.
PLAIN_SECRET_PREFIX = "whsec_"


def webhook_secret_to_text(secret: str, cipher: SecretCipher | None) -> str:
    """The one place a webhook secret is serialised for storage: encrypted with `cipher`, as route
    credentials are. It must come back in clear to sign deliveries, so it is encrypted, not hashed.

    `cipher` None stores it as it is: only for tests of other concerns; the container always passes one.
    """
    return secret if cipher is None else cipher.encrypt(secret)


def webhook_secret_from_text(text: str, cipher: SecretCipher | None) -> str:
    """The inverse of `webhook_secret_to_text`; a secret stored in clear (no cipher) still reads."""
    if cipher is None or text.startswith(PLAIN_SECRET_PREFIX):
        return text
    try:
        return cipher.decrypt(text)
    except SecretUnreadable:
        raise SecretUnreadable("webhook secret") from None


def _delivery_row(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "subscription_id": delivery.subscription_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "payment_id": delivery.payment_id,
        "sequence": delivery.sequence,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "last_attempt_at": delivery.last_attempt_at,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": delivery.delivered_at,
        "created_at": delivery.created_at,
        "updated_at": delivery.updated_at,
    }


def _delivery_from_row(row: Row[Any]) -> WebhookDelivery:
    return WebhookDelivery(
        id=row.id,
        subscription_id=row.subscription_id,
        event_id=row.event_id,
        event_type=row.event_type,
        payment_id=row.payment_id,
        sequence=row.sequence,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_attempt_at=row.last_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _attempt_from_row(row: Row[Any]) -> DeliveryAttempt:
    return DeliveryAttempt(
        id=row.id,
        delivery_id=row.delivery_id,
        attempted_at=row.attempted_at,
        succeeded=row.succeeded,
        duration_ms=row.duration_ms,
        status_code=row.status_code,
        error=row.error,
    )


class SqlAlchemyWebhookRepository:
    def __init__(self, connection: AsyncConnection, *, cipher: SecretCipher | None = None) -> None:
        self._connection = connection
        self._cipher = cipher

    # Subscriptions

    def _subscription_row(self, subscription: WebhookSubscription) -> dict[str, Any]:
        return {
            "id": subscription.id,
            "url": subscription.url,
            "event_types": json.dumps(sorted(t.value for t in subscription.event_types)),
            "secret": webhook_secret_to_text(subscription.secret, self._cipher),
            "description": subscription.description,
            "is_active": subscription.is_active,
            "created_at": subscription.created_at,
            "updated_at": subscription.updated_at,
        }

    def _subscription_from_row(self, row: Row[Any]) -> WebhookSubscription:
        return WebhookSubscription(
            id=row.id,
            url=row.url,
            event_types=frozenset(EventType(t) for t in json.loads(row.event_types)),
            secret=webhook_secret_from_text(row.secret, self._cipher),
            description=row.description,
            is_active=row.is_active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    async def add_subscription(self, subscription: WebhookSubscription) -> None:
        await self._connection.execute(insert(webhook_subscriptions).values(self._subscription_row(subscription)))

    async def get_subscription(self, subscription_id: str) -> WebhookSubscription | None:
        row = (
            await self._connection.execute(
                select(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id)
            )
        ).one_or_none()
        return None if row is None else self._subscription_from_row(row)

    async def list_subscriptions(self, *, active_only: bool) -> Sequence[WebhookSubscription]:
        c = webhook_subscriptions.c
        query = select(webhook_subscriptions).order_by(c.created_at, c.id)
        if active_only:
            query = query.where(c.is_active.is_(True))
        return [self._subscription_from_row(row) for row in await self._connection.execute(query)]

    async def update_subscription(self, subscription: WebhookSubscription) -> None:
        values = self._subscription_row(subscription)
        del values["id"]
        await self._connection.execute(
            update(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription.id).values(values)
        )

    # Deliveries

    async def add_delivery(self, delivery: WebhookDelivery) -> None:
        await self._connection.execute(insert(webhook_deliveries).values(_delivery_row(delivery)))

    async def get_delivery(self, delivery_id: str) -> WebhookDelivery | None:
        row = (
            await self._connection.execute(select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id))
        ).one_or_none()
        return None if row is None else _delivery_from_row(row)

    async def update_delivery(self, delivery: WebhookDelivery) -> None:
        values = _delivery_row(delivery)
        del values["id"]
        await self._connection.execute(
            update(webhook_deliveries).where(webhook_deliveries.c.id == delivery.id).values(values)
        )

    async def list_deliveries(
        self,
        *,
        event_id: str | None = None,
        subscription_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> Sequence[WebhookDelivery]:
        c = webhook_deliveries.c
        query = select(webhook_deliveries).order_by(c.created_at.desc(), c.id.desc()).limit(limit)
        for column, value in ((c.event_id, event_id), (c.subscription_id, subscription_id)):
            if value is not None:
                query = query.where(column == value)
        if status is not None:
            query = query.where(retrying_deliveries() if status == RETRYING else c.status == status)
        return [_delivery_from_row(row) for row in await self._connection.execute(query)]

    async def claim_due_deliveries(
        self, *, now: datetime, lease_until: datetime, limit: int
    ) -> Sequence[WebhookDelivery]:
        d = webhook_deliveries
        earlier = webhook_deliveries.alias("earlier")
        unfanned = outbox_events.alias("unfanned")
        # Per payment and subscription, only the first pending delivery may go: a receiver sees a
        # payment's events in the order they happened. An earlier event not fanned out yet would
        # become an earlier delivery, so it holds the later ones back too.
        waits_for_delivery = exists().where(
            and_(
                earlier.c.subscription_id == d.c.subscription_id,
                earlier.c.payment_id == d.c.payment_id,
                earlier.c.sequence < d.c.sequence,
                earlier.c.status == DeliveryStatus.PENDING.value,
            )
        )
        waits_for_event = exists().where(
            and_(
                unfanned.c.payment_id == d.c.payment_id,
                unfanned.c.sequence < d.c.sequence,
                unfanned.c.fanned_out_at.is_(None),
            )
        )
        query = (
            select(d)
            .where(
                d.c.status == DeliveryStatus.PENDING.value,
                d.c.next_attempt_at <= now,
                ~waits_for_delivery,
                ~waits_for_event,
            )
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=d)
        )
        deliveries = [_delivery_from_row(row) for row in await self._connection.execute(query)]
        if deliveries:
            # The lease: not due again until the attempt had time to finish, or its dispatcher died.
            await self._connection.execute(
                update(d).where(d.c.id.in_([x.id for x in deliveries])).values(next_attempt_at=lease_until)
            )
            for delivery in deliveries:
                delivery.next_attempt_at = lease_until
        return deliveries

    # Attempts

    async def add_attempt(self, attempt: DeliveryAttempt) -> None:
        await self._connection.execute(
            insert(webhook_attempts).values(
                delivery_id=attempt.delivery_id,
                attempted_at=attempt.attempted_at,
                succeeded=attempt.succeeded,
                duration_ms=attempt.duration_ms,
                status_code=attempt.status_code,
                error=attempt.error,
            )
        )

    async def attempts_of(self, delivery_ids: Sequence[str]) -> Sequence[DeliveryAttempt]:
        if not delivery_ids:
            return []
        c = webhook_attempts.c
        rows = await self._connection.execute(
            select(webhook_attempts).where(c.delivery_id.in_(delivery_ids)).order_by(c.id)
        )
        return [_attempt_from_row(row) for row in rows]
