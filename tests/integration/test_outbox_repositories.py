"""The poller's checks, the outbox and the webhook tables, on SQLite and PostgreSQL alike.

Claims see every row of a database, so the tests of claims run on a fresh database each.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import attrs
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.events import Event, EventType
from domain.money import Money
from domain.payment import Payment, PaymentMethod
from domain.polling import PaymentCheck, RefundCheck
from domain.refund import Refund
from domain.webhooks import DELIVERY_FILTERS, DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookSubscription

from adapters.persistence.database import create_engine
from adapters.persistence.migrate import upgrade
from adapters.persistence.tables import webhook_subscriptions
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.secrets import FernetCipher, generate_key

pytestmark = pytest.mark.anyio

T0 = datetime(2025, 10, 22, 12, 0, tzinfo=UTC)


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _payment() -> Payment:
    return Payment(
        id=_id("pay"),
        shop_id=121038,
        provider="kaspi",
        method=PaymentMethod.REMOTE,
        amount=Money(500000, "KZT"),
        merchant_account="920317450731",
        description="roses",
        created_at=T0,
        updated_at=T0,
        external_id=_id("ext"),
    )


def _event(payment: Payment, at: datetime = T0, kind: EventType = EventType.PAYMENT_CREATED) -> Event:
    return Event(id=_id("evt"), type=kind, payment_id=payment.id, occurred_at=at, data={"payment": {"id": payment.id}})


def _subscription(**changes: Any) -> WebhookSubscription:
    fields: dict[str, Any] = {
        "id": _id("wh"),
        "url": "https://crm.example/hook?token=abc",
        "event_types": frozenset({EventType.PAYMENT_SUCCEEDED, EventType.REFUND_FAILED}),
        "secret": "whsec_" + secrets.token_urlsafe(32),
        "description": "CRM — заказы",
        "is_active": True,
        "created_at": T0,
        "updated_at": T0 + timedelta(seconds=1),
    }
    fields.update(changes)
    return WebhookSubscription(**fields)


def _delivery(subscription: WebhookSubscription, event: Event, **changes: Any) -> WebhookDelivery:
    assert event.sequence is not None
    fields: dict[str, Any] = {
        "id": _id("whd"),
        "subscription_id": subscription.id,
        "event_id": event.id,
        "event_type": event.type.value,
        "payment_id": event.payment_id,
        "sequence": event.sequence,
        "next_attempt_at": T0,
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(changes)
    return WebhookDelivery(**fields)


async def _payments(engine: AsyncEngine, count: int) -> list[Payment]:
    payments = [_payment() for _ in range(count)]
    async with SqlAlchemyUnitOfWork(engine) as uow:
        for payment in payments:
            await uow.payments.add(payment)
        await uow.commit()
    return payments


async def _stored_events(engine: AsyncEngine, *events: Event) -> list[Event]:
    async with SqlAlchemyUnitOfWork(engine) as uow:
        for event in events:
            await uow.outbox.add(event)
        await uow.commit()
    async with SqlAlchemyUnitOfWork(engine) as uow:
        return [e for e in [await uow.outbox.get(event.id) for event in events] if e is not None]


@pytest.fixture
async def fresh_engine(unmigrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade(unmigrated_database_url)
    engine = create_engine(unmigrated_database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


# --- Checks ----------------------------------------------------------------------------------------


async def test_a_check_is_added_rescheduled_and_removed(engine: AsyncEngine) -> None:
    [payment] = await _payments(engine, 1)
    async with SqlAlchemyUnitOfWork(engine) as uow:
        await uow.checks.add(PaymentCheck(payment.id, next_check_at=T0))
        await uow.commit()
    async with SqlAlchemyUnitOfWork(engine) as uow:
        assert await uow.checks.get(payment.id) == PaymentCheck(payment.id, T0, 0, None)
        await uow.checks.reschedule([PaymentCheck(payment.id, T0 + timedelta(seconds=15), 1, leased_until=T0)])
        await uow.commit()
    async with SqlAlchemyUnitOfWork(engine) as uow:
        assert await uow.checks.get(payment.id) == PaymentCheck(payment.id, T0 + timedelta(seconds=15), 1, None)
        await uow.checks.remove(payment.id)
        await uow.checks.reschedule([PaymentCheck(payment.id, T0, 2)])  # gone: nothing comes back
        await uow.commit()
    async with SqlAlchemyUnitOfWork(engine) as uow:
        assert await uow.checks.get(payment.id) is None


async def test_a_check_of_an_unknown_payment_is_refused(engine: AsyncEngine) -> None:
    with pytest.raises(IntegrityError):
        async with SqlAlchemyUnitOfWork(engine) as uow:
            await uow.checks.add(PaymentCheck(_id("pay"), next_check_at=T0))
            await uow.commit()


async def test_a_claim_leases_due_checks_earliest_first_and_skips_leased_ones(fresh_engine: AsyncEngine) -> None:
    first, second, later, leased, expired_lease = await _payments(fresh_engine, 5)
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        await uow.checks.add(PaymentCheck(second.id, T0 - timedelta(seconds=1)))
        await uow.checks.add(PaymentCheck(first.id, T0 - timedelta(seconds=2)))
        await uow.checks.add(PaymentCheck(later.id, T0 + timedelta(seconds=1)))
        await uow.checks.add(PaymentCheck(leased.id, T0 - timedelta(hours=1), leased_until=T0 + timedelta(seconds=1)))
        await uow.checks.add(PaymentCheck(expired_lease.id, T0, leased_until=T0))
        await uow.commit()
    lease = T0 + timedelta(minutes=5)

    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        claimed = await uow.checks.claim_due(due_by=T0, now=T0, lease_until=lease, limit=2)
        await uow.commit()
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        rest = await uow.checks.claim_due(due_by=T0, now=T0, lease_until=lease, limit=10)
        await uow.commit()
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        nothing = await uow.checks.claim_due(due_by=T0, now=T0, lease_until=lease, limit=10)
        stored = await uow.checks.get(first.id)

    assert [c.payment_id for c in claimed] == [first.id, second.id]
    assert all(c.leased_until == lease for c in claimed)
    assert [c.payment_id for c in rest] == [expired_lease.id]
    assert nothing == []
    assert stored == PaymentCheck(first.id, T0 - timedelta(seconds=2), 0, lease)


async def test_refund_checks_are_claimed_under_a_lease_rescheduled_and_removed(fresh_engine: AsyncEngine) -> None:
    [payment] = await _payments(fresh_engine, 1)
    first, later = (
        Refund(id=_id("re"), payment_id=payment.id, shop_id=payment.shop_id, amount=Money(100, "KZT"),
               created_at=T0, updated_at=T0)
        for _ in range(2)
    )
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        for refund in (first, later):
            await uow.refunds.add(refund)
        await uow.refund_checks.add(RefundCheck(first.id, T0 - timedelta(seconds=1)))
        await uow.refund_checks.add(RefundCheck(later.id, T0 + timedelta(minutes=1)))
        await uow.commit()
    lease = T0 + timedelta(minutes=5)

    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        claimed = await uow.refund_checks.claim_due(due_by=T0, now=T0, lease_until=lease, limit=10)
        again = await uow.refund_checks.claim_due(due_by=T0, now=T0, lease_until=lease, limit=10)
        await uow.refund_checks.reschedule([RefundCheck(first.id, T0 + timedelta(hours=1), attempts=1)])
        await uow.refund_checks.remove(later.id)
        await uow.commit()
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        due_later = await uow.refund_checks.claim_due(
            due_by=T0 + timedelta(days=1), now=T0, lease_until=lease, limit=10
        )

    assert claimed == [RefundCheck(first.id, T0 - timedelta(seconds=1), 0, lease)]
    assert again == []
    assert due_later == [RefundCheck(first.id, T0 + timedelta(hours=1), 1, lease)]


async def test_a_refund_check_needs_its_refund(fresh_engine: AsyncEngine) -> None:
    with pytest.raises(IntegrityError):
        async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
            await uow.refund_checks.add(RefundCheck(_id("re"), next_check_at=T0))
            await uow.commit()


async def test_concurrent_claims_never_hand_out_the_same_check(fresh_engine: AsyncEngine) -> None:
    payments = await _payments(fresh_engine, 300)
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        for payment in payments:
            await uow.checks.add(PaymentCheck(payment.id, T0))
        await uow.commit()
    claimed: list[str] = []

    async def claimer() -> None:
        for _ in range(len(payments)):  # bounded: a check handed out again and again must not hang the test
            async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
                batch = await uow.checks.claim_due(
                    due_by=T0, now=T0, lease_until=T0 + timedelta(minutes=5), limit=7
                )
                await uow.commit()
            if not batch:
                return
            claimed.extend(c.payment_id for c in batch)

    async with anyio.create_task_group() as tasks:
        for _ in range(6):
            tasks.start_soon(claimer)

    assert sorted(claimed) == sorted(p.id for p in payments)


# --- The outbox ------------------------------------------------------------------------------------


async def test_events_round_trip_numbered_per_payment_in_order(engine: AsyncEngine) -> None:
    one, other = await _payments(engine, 2)
    events = [
        _event(one),
        _event(other),
        _event(one, T0 + timedelta(seconds=1), EventType.PAYMENT_SUCCEEDED),
        _event(one, T0 + timedelta(seconds=2), EventType.REFUND_FAILED),
    ]
    stored = await _stored_events(engine, *events)

    assert [(e.payment_id, e.sequence) for e in stored] == [(one.id, 1), (other.id, 1), (one.id, 2), (one.id, 3)]
    assert [(e.id, e.type, e.occurred_at, dict(e.data)) for e in stored] == [
        (e.id, e.type, e.occurred_at, dict(e.data)) for e in events
    ]
    async with SqlAlchemyUnitOfWork(engine) as uow:
        listed = await uow.outbox.list_for_payment(one.id)
    assert [e.sequence for e in listed] == [1, 2, 3]


async def test_fan_out_and_publishing_claims_take_each_event_once(fresh_engine: AsyncEngine) -> None:
    payments = await _payments(fresh_engine, 3)
    events = await _stored_events(fresh_engine, *(_event(p, T0 + timedelta(seconds=n)) for n, p in enumerate(payments)))

    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        unfanned = await uow.outbox.claim_unfanned(limit=2)
        await uow.outbox.mark_fanned_out([e.id for e in unfanned], T0)
        await uow.commit()
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        rest = await uow.outbox.claim_unfanned(limit=10)
        leased = await uow.outbox.claim_unpublished(now=T0, lease_until=T0 + timedelta(minutes=1), limit=2)
        await uow.commit()
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        others = await uow.outbox.claim_unpublished(now=T0, lease_until=T0 + timedelta(minutes=1), limit=10)
        await uow.outbox.mark_published([e.id for e in others], T0)
        await uow.commit()
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        after_lease = await uow.outbox.claim_unpublished(
            now=T0 + timedelta(minutes=1), lease_until=T0 + timedelta(minutes=2), limit=10
        )

    ids = [e.id for e in events]
    assert [e.id for e in unfanned] == ids[:2] and [e.id for e in rest] == ids[2:]
    assert [e.id for e in leased] == ids[:2] and [e.id for e in others] == ids[2:]
    assert [e.id for e in after_lease] == ids[:2]  # not confirmed in time: offered again


# --- Webhooks --------------------------------------------------------------------------------------


async def test_a_subscription_round_trips_with_its_secret_encrypted_at_rest(engine: AsyncEngine) -> None:
    cipher = FernetCipher([generate_key()])
    subscription = _subscription()
    async with SqlAlchemyUnitOfWork(engine, cipher=cipher) as uow:
        await uow.webhooks.add_subscription(subscription)
        await uow.commit()
    async with SqlAlchemyUnitOfWork(engine, cipher=cipher) as uow:
        loaded = await uow.webhooks.get_subscription(subscription.id)
    async with engine.connect() as connection:
        stored = await connection.scalar(
            select(webhook_subscriptions.c.secret).where(webhook_subscriptions.c.id == subscription.id)
        )

    assert loaded == subscription
    assert stored is not None and subscription.secret not in stored and cipher.decrypt(stored) == subscription.secret


async def test_subscriptions_are_listed_oldest_first_and_deactivated_ones_kept(engine: AsyncEngine) -> None:
    older = _subscription(created_at=T0 - timedelta(days=3650))
    newer = _subscription(created_at=T0 - timedelta(days=3649))
    async with SqlAlchemyUnitOfWork(engine) as uow:
        await uow.webhooks.add_subscription(newer)
        await uow.webhooks.add_subscription(older)
        await uow.webhooks.update_subscription(attrs.evolve(newer, is_active=False))
        await uow.commit()
    async with SqlAlchemyUnitOfWork(engine) as uow:
        every = [s.id for s in await uow.webhooks.list_subscriptions(active_only=False)]
        active = [s.id for s in await uow.webhooks.list_subscriptions(active_only=True)]

    assert every.index(older.id) < every.index(newer.id)
    assert older.id in active and newer.id not in active


async def test_a_delivery_and_its_attempts_round_trip(engine: AsyncEngine) -> None:
    [payment] = await _payments(engine, 1)
    [event] = await _stored_events(engine, _event(payment))
    subscription = _subscription()
    delivery = _delivery(subscription, event)
    async with SqlAlchemyUnitOfWork(engine) as uow:
        await uow.webhooks.add_subscription(subscription)
        await uow.webhooks.add_delivery(delivery)
        await uow.commit()
    delivery.failed(at=T0, status_code=503, error="HTTP 503")
    async with SqlAlchemyUnitOfWork(engine) as uow:
        await uow.webhooks.update_delivery(delivery)
        await uow.webhooks.add_attempt(DeliveryAttempt(delivery.id, T0, False, 12, 503, "HTTP 503"))
        await uow.webhooks.add_attempt(DeliveryAttempt(delivery.id, T0 + timedelta(minutes=1), True, 8, 200))
        await uow.commit()
    async with SqlAlchemyUnitOfWork(engine) as uow:
        loaded = await uow.webhooks.get_delivery(delivery.id)
        listed = await uow.webhooks.list_deliveries(event_id=event.id)
        attempts = await uow.webhooks.attempts_of([delivery.id])
        with pytest.raises(IntegrityError):
            await uow.webhooks.add_delivery(_delivery(subscription, event))  # one delivery per event and subscriber

    assert loaded is not None and attrs.asdict(loaded) == attrs.asdict(delivery)
    assert [d.id for d in listed] == [delivery.id]
    assert [(a.succeeded, a.status_code, a.error, a.duration_ms) for a in attempts] == [
        (False, 503, "HTTP 503", 12), (True, 200, None, 8),
    ]


async def test_deliveries_are_listed_by_every_word_of_the_filter_retrying_included(engine: AsyncEngine) -> None:
    payments = await _payments(engine, 5)
    events = await _stored_events(engine, *(_event(p) for p in payments))
    subscription = _subscription()
    fresh, retrying, delivered, dead, cancelled = (_delivery(subscription, e) for e in events)
    retrying.failed(at=T0, status_code=503, error="HTTP 503")
    delivered.succeeded(at=T0, status_code=200)
    dead.status = DeliveryStatus.DEAD
    cancelled.cancel(at=T0)
    async with SqlAlchemyUnitOfWork(engine) as uow:
        await uow.webhooks.add_subscription(subscription)
        for delivery in (fresh, retrying, delivered, dead, cancelled):
            await uow.webhooks.add_delivery(delivery)
        await uow.commit()

    async def listed(word: str) -> set[str]:
        async with SqlAlchemyUnitOfWork(engine) as uow:
            return {d.id for d in await uow.webhooks.list_deliveries(subscription_id=subscription.id, status=word)}

    assert {word: await listed(word) for word in DELIVERY_FILTERS} == {
        "pending": {fresh.id, retrying.id},  # retrying is pending too: waiting for its next attempt
        "retrying": {retrying.id},
        "delivered": {delivered.id},
        "dead": {dead.id},
        "cancelled": {cancelled.id},
        "blocked": set(),
    }


async def test_a_blocked_delivery_is_stored_final_listed_by_status_and_requeued(fresh_engine: AsyncEngine) -> None:
    [payment] = await _payments(fresh_engine, 1)
    [event] = await _stored_events(fresh_engine, _event(payment))
    subscription = _subscription(url="http://10.0.0.5/hook")
    delivery = _delivery(subscription, event)
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        await uow.webhooks.add_subscription(subscription)
        await uow.webhooks.add_delivery(delivery)
        await uow.commit()
    delivery.block(at=T0, reason="blocked: 10.0.0.5 is a private address, outside WEBHOOK_ALLOWED_NETWORKS")
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        await uow.webhooks.update_delivery(delivery)
        await uow.commit()
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        blocked = await uow.webhooks.list_deliveries(status="blocked")
        due = await uow.webhooks.claim_due_deliveries(now=T0 + timedelta(days=2), lease_until=T0 + timedelta(days=3), limit=10)
        await uow.commit()

    assert [(d.id, d.status, d.attempts, d.last_error) for d in blocked] == [
        (delivery.id, DeliveryStatus.BLOCKED, 1, delivery.last_error)
    ]
    assert due == []  # final: never claimed again on its own
    delivery.requeue(at=T0 + timedelta(days=2))
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        await uow.webhooks.update_delivery(delivery)
        await uow.commit()
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        due = await uow.webhooks.claim_due_deliveries(now=T0 + timedelta(days=2), lease_until=T0 + timedelta(days=3), limit=10)
        await uow.commit()
    assert [d.id for d in due] == [delivery.id]


async def test_a_delivery_claim_keeps_each_payments_order_per_subscriber(fresh_engine: AsyncEngine) -> None:
    one, other = await _payments(fresh_engine, 2)
    first, second, elsewhere = await _stored_events(
        fresh_engine, _event(one), _event(one, T0 + timedelta(seconds=1)), _event(other)
    )
    crm, bi = _subscription(), _subscription()
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        await uow.outbox.mark_fanned_out([first.id, second.id, elsewhere.id], T0)
        for subscription in (crm, bi):
            await uow.webhooks.add_subscription(subscription)
        d1 = _delivery(crm, first)
        d2 = _delivery(crm, second)
        d3 = _delivery(crm, elsewhere)
        bi2 = _delivery(bi, second)  # the BI never got the first event: nothing to wait for
        for delivery in (d2, d1, d3, bi2):
            await uow.webhooks.add_delivery(delivery)
        await uow.commit()
    lease = T0 + timedelta(minutes=5)

    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        claimed = {d.id for d in await uow.webhooks.claim_due_deliveries(now=T0, lease_until=lease, limit=10)}
        await uow.commit()
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        again = await uow.webhooks.claim_due_deliveries(now=T0, lease_until=lease, limit=10)
        d1.succeeded(at=T0, status_code=200)
        await uow.webhooks.update_delivery(d1)
        await uow.commit()
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        after = [d.id for d in await uow.webhooks.claim_due_deliveries(now=T0, lease_until=lease, limit=10)]

    assert claimed == {d1.id, d3.id, bi2.id}
    assert again == []  # leased, and d2 still waits for d1
    assert after == [d2.id]


async def test_a_delivery_waits_for_an_earlier_event_not_yet_fanned_out(fresh_engine: AsyncEngine) -> None:
    [payment] = await _payments(fresh_engine, 1)
    first, second = await _stored_events(fresh_engine, _event(payment), _event(payment, T0 + timedelta(seconds=1)))
    crm = _subscription()
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        await uow.outbox.mark_fanned_out([second.id], T0)  # another dispatcher got to it first
        await uow.webhooks.add_subscription(crm)
        await uow.webhooks.add_delivery(later := _delivery(crm, second))
        await uow.commit()

    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        waiting = await uow.webhooks.claim_due_deliveries(now=T0, lease_until=T0, limit=10)
        await uow.outbox.mark_fanned_out([first.id], T0)
        await uow.commit()
    async with SqlAlchemyUnitOfWork(fresh_engine) as uow:
        free = await uow.webhooks.claim_due_deliveries(now=T0, lease_until=T0, limit=10)

    assert waiting == [] and [d.id for d in free] == [later.id]
    assert later.status is DeliveryStatus.PENDING
