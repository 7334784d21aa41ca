"""Manage the marketplace's webhook subscriptions and look after their deliveries. Every change is audited."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs

from domain.audit import AuditEntry, Outcome
from domain.errors import InvalidValue
from domain.events import EVENT_TYPES
from domain.webhook_targets import WebhookTargetRefused
from domain.webhooks import (
    DELIVERY_FILTERS,
    MAX_DESCRIPTION,
    DeliveryAttempt,
    DeliveryStatus,
    WebhookDelivery,
    WebhookSubscription,
    check_event_types,
    check_webhook_url,
)

from application.errors import DeliveryNotFound, HostUnresolvable, WebhookNotFound
from application.ports import Clock, IdGenerator, UnitOfWorkFactory
from application.webhook_targets import WebhookTargets

SECRET_PREFIX = "whsec_"
MAX_LIMIT = 1000
_CANCEL_PAGE = 500


@attrs.frozen
class DeliveryRecord:
    """A delivery with every attempt made so far, oldest first."""

    delivery: WebhookDelivery
    attempts: Sequence[DeliveryAttempt]


@attrs.frozen
class RefusedTarget:
    subscription: WebhookSubscription
    reason: str


class ManageWebhooks:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator, targets: WebhookTargets) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._targets = targets

    async def add(
        self, *, url: str, event_types: Iterable[str] | None = None, description: str = "", actor: str | None = None
    ) -> tuple[WebhookSubscription, str]:
        """Returns the subscription and its signing secret, which is shown this once."""
        if len(description) > MAX_DESCRIPTION:
            raise InvalidValue("description", f"description is longer than {MAX_DESCRIPTION} characters")
        url = check_webhook_url(url)
        # An unresolvable name is nothing to judge yet: every delivery checks it again before connecting.
        with contextlib.suppress(HostUnresolvable):
            await self._targets.check(url)
        now = self._clock.now()
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        subscription = WebhookSubscription(
            id=self._ids.new_id("wh"),
            url=url,
            event_types=check_event_types(event_types) if event_types is not None else EVENT_TYPES,
            secret=secret,
            description=description,
            is_active=True,
            created_at=now,
            updated_at=now,
        )
        async with self._uow() as uow:
            await uow.webhooks.add_subscription(subscription)
            await uow.audit.append(_entry("webhook_add", subscription.id, now, actor))
            await uow.commit()
        return subscription, secret

    async def list(self) -> Sequence[WebhookSubscription]:
        async with self._uow() as uow:
            return await uow.webhooks.list_subscriptions(active_only=True)

    async def refused_targets(self) -> Sequence[RefusedTarget]:
        """Active subscriptions whose target the rules refuse now (names that do not resolve are left out)."""

        async def refusal(subscription: WebhookSubscription) -> RefusedTarget | None:
            try:
                await self._targets.check(subscription.url)
            except WebhookTargetRefused as refused:
                return RefusedTarget(subscription, refused.reason)
            except HostUnresolvable:
                return None
            return None

        found = await asyncio.gather(*(refusal(s) for s in await self.list()))
        return [refused for refused in found if refused is not None]

    async def remove(self, subscription_id: str, *, actor: str | None = None) -> WebhookSubscription:
        """Deactivate the subscription (kept for its delivery history) and cancel what it still had to get."""
        now = self._clock.now()
        async with self._uow() as uow:
            current = await uow.webhooks.get_subscription(subscription_id)
            if current is None or not current.is_active:
                raise WebhookNotFound(subscription_id)
            removed = attrs.evolve(current, is_active=False, updated_at=now)
            await uow.webhooks.update_subscription(removed)
            while pending := await uow.webhooks.list_deliveries(
                subscription_id=subscription_id, status=DeliveryStatus.PENDING.value, limit=_CANCEL_PAGE
            ):
                for delivery in pending:
                    delivery.cancel(at=now)
                    await uow.webhooks.update_delivery(delivery)
            await uow.audit.append(_entry("webhook_remove", subscription_id, now, actor))
            await uow.commit()
        return removed

    async def deliveries(
        self,
        *,
        event_id: str | None = None,
        subscription_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> Sequence[DeliveryRecord]:
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidValue("limit", f"limit must be between 1 and {MAX_LIMIT}")
        if status is not None and status not in DELIVERY_FILTERS:
            raise InvalidValue("status", f"status must be one of {', '.join(DELIVERY_FILTERS)}")
        async with self._uow() as uow:
            found = await uow.webhooks.list_deliveries(
                event_id=event_id, subscription_id=subscription_id, status=status, limit=limit
            )
            attempts = await uow.webhooks.attempts_of([d.id for d in found])
        return [DeliveryRecord(d, [a for a in attempts if a.delivery_id == d.id]) for d in found]

    async def redeliver(self, delivery_id: str, *, actor: str | None = None) -> WebhookDelivery:
        """Send the event again now (the receiver deduplicates on the event id), whatever happened before."""
        now = self._clock.now()
        async with self._uow() as uow:
            delivery = await uow.webhooks.get_delivery(delivery_id)
            if delivery is None:
                raise DeliveryNotFound(delivery_id)
            subscription = await uow.webhooks.get_subscription(delivery.subscription_id)
            if subscription is None or not subscription.is_active:
                raise WebhookNotFound(delivery.subscription_id)
            delivery.requeue(at=now)
            await uow.webhooks.update_delivery(delivery)
            await uow.audit.append(_entry("webhook_redeliver", delivery.id, now, actor))
            await uow.commit()
        return delivery


def _entry(operation: str, reference: str, at: datetime, actor: str | None) -> AuditEntry:
    # As for API keys: the audit log has no webhook columns, so the id goes in `external_id`.
    return AuditEntry(
        operation_type=operation, status=Outcome.SUCCESS, created_at=at, external_id=reference, actor=actor
    )
