"""The dispatcher: hands outbox events to webhook subscriptions, delivers them, and publishes them to a broker.

Each event becomes one delivery per subscription that wants it (and existed when it happened). A
delivery is sent with no transaction open, under a lease; a receiver's 2xx delivers it, anything
else schedules a retry (about 24 hours of them) and then dead-letters it. Every attempt is kept.
Per payment and subscription, deliveries go in the order the events happened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from domain.events import Event
from domain.webhooks import DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookSubscription

from application.errors import PublishFailed
from application.ports import Clock, DeliveryResult, EventPublisher, IdGenerator, UnitOfWorkFactory, WebhookSender

logger = logging.getLogger("paygate.dispatcher")


@attrs.define
class DispatchSummary:
    fanned_out: int = 0  # deliveries created
    delivered: int = 0
    retrying: int = 0  # failed attempts with a retry scheduled
    dead: int = 0  # failed attempts that spent the schedule
    blocked: int = 0  # not sent: the target is not allowed
    published: int = 0  # events the broker confirmed
    publish_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return attrs.asdict(self)


@attrs.frozen
class _Job:
    delivery: WebhookDelivery
    subscription: WebhookSubscription | None
    event: Event


class DispatchEvents:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        sender: WebhookSender,
        publisher: EventPublisher | None,
        clock: Clock,
        ids: IdGenerator,
        batch_size: int = 100,
        concurrency: int = 10,
        lease: timedelta = timedelta(minutes=5),
    ) -> None:
        if batch_size < 1 or concurrency < 1:
            raise ValueError("batch_size and concurrency must be at least 1")
        if lease <= timedelta(0):
            raise ValueError("lease must be positive")
        self._uow = uow
        self._sender = sender
        self._publisher = publisher
        self._clock = clock
        self._ids = ids
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._lease = lease

    async def run_once(self, *, until: asyncio.Event | None = None) -> DispatchSummary:
        """Fan out, deliver and publish everything due now; return when there is nothing left to do.

        Once `until` is set nothing more is claimed; what was claimed already is finished.
        """
        summary = DispatchSummary()

        def going() -> bool:
            return until is None or not until.is_set()

        while going() and await self._fan_out(summary):
            pass
        sending = asyncio.Semaphore(self._concurrency)
        # Claimed again after each round: delivering a payment's event makes its next one due.
        while going() and (jobs := await self._claim_deliveries()):
            async with asyncio.TaskGroup() as tasks:
                for job in jobs:
                    tasks.create_task(self._deliver(job, summary, sending))
        if self._publisher is not None and going():
            await self._publish(self._publisher, summary, going)
        return summary

    # --- Fan-out -----------------------------------------------------------------------------------

    async def _fan_out(self, summary: DispatchSummary) -> bool:
        now = self._clock.now()
        async with self._uow() as uow:
            events = await uow.outbox.claim_unfanned(limit=self._batch_size)
            if not events:
                return False
            subscriptions = await uow.webhooks.list_subscriptions(active_only=True)
            for event in events:
                assert event.sequence is not None
                for subscription in subscriptions:
                    # A subscription hears of what happens once it exists, not of the past.
                    if subscription.wants(event.type) and subscription.created_at <= event.occurred_at:
                        await uow.webhooks.add_delivery(
                            WebhookDelivery(
                                id=self._ids.new_id("whd"),
                                subscription_id=subscription.id,
                                event_id=event.id,
                                event_type=event.type.value,
                                payment_id=event.payment_id,
                                sequence=event.sequence,
                                next_attempt_at=now,
                                created_at=now,
                                updated_at=now,
                            )
                        )
                        summary.fanned_out += 1
            await uow.outbox.mark_fanned_out([event.id for event in events], now)
            await uow.commit()
        return True

    # --- Deliveries --------------------------------------------------------------------------------

    async def _claim_deliveries(self) -> list[_Job]:
        now = self._clock.now()
        async with self._uow() as uow:
            deliveries = await uow.webhooks.claim_due_deliveries(
                now=now, lease_until=now + self._lease, limit=self._batch_size
            )
            subscriptions: dict[str, WebhookSubscription | None] = {}
            jobs = []
            for delivery in deliveries:
                if delivery.subscription_id not in subscriptions:
                    subscriptions[delivery.subscription_id] = await uow.webhooks.get_subscription(
                        delivery.subscription_id
                    )
                event = await uow.outbox.get(delivery.event_id)
                assert event is not None  # a delivery's event is a foreign key
                jobs.append(_Job(delivery, subscriptions[delivery.subscription_id], event))
            await uow.commit()
        return jobs

    async def _deliver(self, job: _Job, summary: DispatchSummary, sending: asyncio.Semaphore) -> None:
        subscription = job.subscription
        if subscription is None or not subscription.is_active:
            await self._cancel(job.delivery)  # deleted while the delivery waited
            return
        async with sending:
            at = self._clock.now()
            result = await self._sender.send(subscription.url, subscription.secret, job.event, at=at)
        try:
            status = await self._record(job.delivery.id, result, at)
        except Exception:  # noqa: BLE001 - the lease runs out and the delivery is tried again
            logger.exception("delivery_record_failed", extra={"delivery_id": job.delivery.id})
            return
        if status is DeliveryStatus.DELIVERED:
            summary.delivered += 1
        elif status is DeliveryStatus.DEAD:
            summary.dead += 1
            logger.warning("webhook_dead_lettered", extra={"delivery_id": job.delivery.id, "event_id": job.event.id})
        elif status is DeliveryStatus.BLOCKED:
            summary.blocked += 1
            logger.warning(
                "webhook_blocked",
                extra={"delivery_id": job.delivery.id, "webhook_id": subscription.id, "reason": result.error},
            )
        elif status is DeliveryStatus.PENDING:
            summary.retrying += 1

    async def _record(self, delivery_id: str, result: DeliveryResult, at: datetime) -> DeliveryStatus | None:
        async with self._uow() as uow:
            # Read again: an operator may have requeued or cancelled it while the request was out.
            delivery = await uow.webhooks.get_delivery(delivery_id)
            assert delivery is not None
            await uow.webhooks.add_attempt(
                DeliveryAttempt(
                    delivery_id=delivery_id,
                    attempted_at=at,
                    succeeded=result.delivered,
                    duration_ms=result.duration_ms,
                    status_code=result.status_code,
                    error=result.error,
                )
            )
            if delivery.status is not DeliveryStatus.PENDING:
                await uow.commit()
                return None
            if result.delivered:
                assert result.status_code is not None
                delivery.succeeded(at=at, status_code=result.status_code)
            elif result.blocked:
                delivery.block(at=at, reason=result.error or "blocked")
            else:
                delivery.failed(at=at, status_code=result.status_code, error=result.error or "failed")
            await uow.webhooks.update_delivery(delivery)
            await uow.commit()
        return delivery.status

    async def _cancel(self, delivery: WebhookDelivery) -> None:
        async with self._uow() as uow:
            current = await uow.webhooks.get_delivery(delivery.id)
            if current is not None and current.status is DeliveryStatus.PENDING:
                current.cancel(at=self._clock.now())
                await uow.webhooks.update_delivery(current)
            await uow.commit()

    # --- Broker ------------------------------------------------------------------------------------

    async def _publish(self, publisher: EventPublisher, summary: DispatchSummary, going: Callable[[], bool]) -> None:
        while going():
            now = self._clock.now()
            async with self._uow() as uow:
                events = await uow.outbox.claim_unpublished(
                    now=now, lease_until=now + self._lease, limit=self._batch_size
                )
                await uow.commit()
            if not events:
                return
            confirmed: list[str] = []
            try:
                for event in events:
                    await publisher.publish(event)
                    confirmed.append(event.id)
            except PublishFailed as failure:
                # The rest stay in the outbox; their lease runs out and a later round publishes them.
                summary.publish_errors += 1
                logger.warning(
                    "event_publish_failed", extra={"event_id": events[len(confirmed)].id, "reason": str(failure)}
                )
            finally:
                if confirmed:
                    async with self._uow() as uow:
                        await uow.outbox.mark_published(confirmed, self._clock.now())
                        await uow.commit()
                    summary.published += len(confirmed)
            if len(confirmed) < len(events):
                return
