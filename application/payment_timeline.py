"""One payment's story in order: its audit entries (with where each status came from), the events
it raised, and every webhook delivery of those events with each attempt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from domain.audit import AuditEntry
from domain.events import Event
from domain.payment import Payment
from domain.refund import Refund
from domain.webhooks import DeliveryAttempt, WebhookDelivery

from application.ports import UnitOfWorkFactory


@attrs.frozen
class TimelineEntry:
    """Exactly one of `audit`, `event`, `delivery` is set; `attempts` go with a delivery."""

    at: datetime
    audit: AuditEntry | None = None
    event: Event | None = None
    delivery: WebhookDelivery | None = None
    attempts: Sequence[DeliveryAttempt] = ()


@attrs.frozen
class PaymentStory:
    payment: Payment
    refunds: Sequence[Refund]
    timeline: Sequence[TimelineEntry]


class PaymentTimeline:
    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def of(self, payment: Payment) -> PaymentStory:
        """`payment` as the caller was allowed to read it (`GetPayment` decides who may)."""
        async with self._uow() as uow:
            refunds = await uow.refunds.list_for_payment(payment.id)
            audit = await uow.audit.list_for_payment(payment.id)
            events = await uow.outbox.list_for_payment(payment.id)
            deliveries = [
                delivery
                for event in events
                for delivery in await uow.webhooks.list_deliveries(event_id=event.id, limit=100)
            ]
            attempts = await uow.webhooks.attempts_of([d.id for d in deliveries]) if deliveries else []
        entries = [TimelineEntry(at=entry.created_at, audit=entry) for entry in audit]
        entries += [TimelineEntry(at=event.occurred_at, event=event) for event in events]
        entries += [
            TimelineEntry(
                at=delivery.created_at,
                delivery=delivery,
                attempts=[a for a in attempts if a.delivery_id == delivery.id],
            )
            for delivery in deliveries
        ]
        # Stable: entries at the same instant keep the order above (audit, then event, then delivery).
        return PaymentStory(payment, refunds, sorted(entries, key=lambda entry: entry.at))
