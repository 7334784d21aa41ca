"""The dispatcher and the subscriptions: signed deliveries, retries for a day, dead letters, order, the broker."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from domain.errors import InvalidValue
from domain.events import EventType
from domain.money import Money
from domain.payment import Payment, PaymentStatus
from domain.webhooks import RETRY_DELAYS, DeliveryStatus, WebhookSubscription

from application.dispatch_events import DispatchSummary
from application.errors import DeliveryNotFound, WebhookNotFound
from application.ports import DeliveryResult, ProviderPayment

from tests.support.core import InMemoryGateway
from tests.unit.conftest import SHOP, START

pytestmark = pytest.mark.anyio

CRM = "https://crm.example/paygate/events"
DOWN = DeliveryResult(False, 3, status_code=503, error="HTTP 503")


async def subscribe(gateway: InMemoryGateway, *types: str, url: str = CRM) -> tuple[WebhookSubscription, str]:
    return await gateway.webhooks.add(url=url, event_types=list(types) or None, actor="ops")


async def paid(gateway: InMemoryGateway, external_id: str = "12800627774") -> Payment:
    """A payment the customer just paid: one `payment.succeeded` in the outbox."""
    payment = gateway.seed_payment(
        SHOP, amount=Money(500000, "KZT"), status=PaymentStatus.PENDING, external_id=external_id
    )
    return await gateway.sync.apply(payment.id, ProviderPayment(external_id, "Processed", PaymentStatus.SUCCEEDED))


async def refunded(gateway: InMemoryGateway, payment: Payment) -> None:
    """A second event of the same payment (what it says does not matter here)."""
    from application.events import record_event

    async with gateway.db.unit_of_work() as uow:
        await record_event(uow, gateway.ids, EventType.REFUND_SUCCEEDED, payment, at=gateway.clock.now())
        await uow.commit()


async def test_a_subscriber_gets_each_event_it_wants_once_signed_with_its_secret(gateway: InMemoryGateway) -> None:
    subscription, secret = await subscribe(gateway, "payment.succeeded")
    payment = await paid(gateway)

    summary = await gateway.dispatch.run_once()
    again = await gateway.dispatch.run_once()

    [sent] = gateway.sender.sent
    assert (sent.url, sent.secret, sent.event.type, sent.event.payment_id, sent.at) == (
        CRM, secret, EventType.PAYMENT_SUCCEEDED, payment.id, START,
    )
    assert (summary.fanned_out, summary.delivered) == (1, 1)
    assert again.delivered == 0
    [delivery] = gateway.db.deliveries.values()
    assert (delivery.status, delivery.attempts, delivery.delivered_at, delivery.subscription_id) == (
        DeliveryStatus.DELIVERED, 1, START, subscription.id,
    )
    [attempt] = gateway.db.attempts
    assert (attempt.delivery_id, attempt.succeeded, attempt.status_code) == (delivery.id, True, 200)


async def test_events_it_did_not_ask_for_or_from_before_it_existed_are_not_sent(gateway: InMemoryGateway) -> None:
    await paid(gateway, "12800000001")  # before anyone subscribed
    gateway.clock.advance(timedelta(seconds=1))
    await subscribe(gateway, "payment.failed")
    await paid(gateway, "12800000002")

    summary = await gateway.dispatch.run_once()

    assert gateway.sender.sent == [] and summary.fanned_out == 0
    assert all(row.fanned_out_at == gateway.clock.now() for row in gateway.db.events)


async def test_every_subscriber_gets_its_own_delivery(gateway: InMemoryGateway) -> None:
    _, first_secret = await subscribe(gateway, url="https://crm.example/a")
    _, second_secret = await subscribe(gateway, url="https://bi.example/b")
    await paid(gateway)

    await gateway.dispatch.run_once()

    assert sorted((s.url, s.secret) for s in gateway.sender.sent) == [
        ("https://bi.example/b", second_secret), ("https://crm.example/a", first_secret),
    ]


async def test_a_failed_delivery_is_retried_after_a_minute_and_then_delivered(gateway: InMemoryGateway) -> None:
    await subscribe(gateway)
    await paid(gateway)
    gateway.sender.will_answer(DOWN)

    first = await gateway.dispatch.run_once()
    gateway.clock.advance(timedelta(seconds=59))
    too_early = await gateway.dispatch.run_once()
    gateway.clock.advance(timedelta(seconds=1))
    then = await gateway.dispatch.run_once()

    assert (first.retrying, too_early.delivered + too_early.retrying, then.delivered) == (1, 0, 1)
    assert len({s.event.id for s in gateway.sender.sent}) == 1 and len(gateway.sender.sent) == 2
    assert [(a.succeeded, a.status_code, a.error) for a in gateway.db.attempts] == [
        (False, 503, "HTTP 503"), (True, 200, None),
    ]


async def test_a_receiver_down_for_a_day_gets_the_whole_schedule_then_the_event_is_dead_lettered(
    gateway: InMemoryGateway,
) -> None:
    await subscribe(gateway)
    await paid(gateway)
    gateway.sender.will_answer(*[DOWN] * (len(RETRY_DELAYS) + 1))

    await gateway.dispatch.run_once()
    for delay in RETRY_DELAYS:
        gateway.clock.advance(delay)
        await gateway.dispatch.run_once()
    gateway.clock.advance(timedelta(days=7))
    await gateway.dispatch.run_once()

    assert [s.at - START for s in gateway.sender.sent][-1] == sum(RETRY_DELAYS, timedelta())
    assert timedelta(hours=23) < sum(RETRY_DELAYS, timedelta()) < timedelta(hours=25)
    assert len(gateway.sender.sent) == 17
    [delivery] = gateway.db.deliveries.values()
    assert (delivery.status, delivery.attempts, len(gateway.db.attempts)) == (DeliveryStatus.DEAD, 17, 17)


async def test_an_operator_redelivers_a_dead_letter_with_a_fresh_schedule(gateway: InMemoryGateway) -> None:
    await subscribe(gateway)
    await paid(gateway)
    [row] = gateway.db.events
    await gateway.dispatch.run_once()
    [delivery] = gateway.db.deliveries.values()
    delivery.status = DeliveryStatus.DEAD  # as if a day of retries had failed

    requeued = await gateway.webhooks.redeliver(delivery.id, actor="ops")
    await gateway.dispatch.run_once()

    assert (requeued.status, requeued.attempts) == (DeliveryStatus.PENDING, 0)
    assert [s.event.id for s in gateway.sender.sent] == [row.event.id, row.event.id]
    assert gateway.db.deliveries[delivery.id].status is DeliveryStatus.DELIVERED
    [record] = await gateway.webhooks.deliveries(event_id=row.event.id)
    assert [a.succeeded for a in record.attempts] == [True, True]
    assert [(e.operation_type, e.external_id, e.actor) for e in gateway.db.audit if e.actor == "ops"][-1] == (
        "webhook_redeliver", delivery.id, "ops",
    )


async def test_a_blocked_delivery_is_final_until_an_operator_redelivers_it(gateway: InMemoryGateway) -> None:
    await subscribe(gateway)
    payment = await paid(gateway)
    await refunded(gateway, payment)
    reason = "blocked: crm.example resolves to a private address, outside WEBHOOK_ALLOWED_NETWORKS"
    gateway.sender.will_answer(*[DeliveryResult(False, 1, error=reason, blocked=True)] * 2)

    summary = await gateway.dispatch.run_once()
    gateway.clock.advance(timedelta(days=2))
    later = await gateway.dispatch.run_once()

    # Both events tried once (a blocked one does not hold back the next), neither retried.
    assert [s.event.type for s in gateway.sender.sent] == [EventType.PAYMENT_SUCCEEDED, EventType.REFUND_SUCCEEDED]
    assert (summary.blocked, summary.retrying, summary.dead, later.blocked) == (2, 0, 0, 0)
    first = next(d for d in gateway.db.deliveries.values() if d.event_type == "payment.succeeded")
    assert (first.status, first.attempts, first.last_error) == (DeliveryStatus.BLOCKED, 1, reason)
    assert [r.delivery.id for r in await gateway.webhooks.deliveries(status="blocked")] != []

    await gateway.webhooks.redeliver(first.id, actor="ops")  # the operator allowed the target meanwhile
    await gateway.dispatch.run_once()

    assert gateway.db.deliveries[first.id].status is DeliveryStatus.DELIVERED


async def test_a_payments_later_event_waits_for_its_earlier_one(gateway: InMemoryGateway) -> None:
    await subscribe(gateway)
    payment = await paid(gateway)
    await refunded(gateway, payment)
    gateway.sender.will_answer(DOWN)

    await gateway.dispatch.run_once()
    assert [s.event.type for s in gateway.sender.sent] == [EventType.PAYMENT_SUCCEEDED]  # the refund waits

    gateway.clock.advance(timedelta(minutes=1))
    await gateway.dispatch.run_once()
    assert [s.event.type for s in gateway.sender.sent] == [
        EventType.PAYMENT_SUCCEEDED, EventType.PAYMENT_SUCCEEDED, EventType.REFUND_SUCCEEDED,
    ]


async def test_one_payments_failing_delivery_does_not_hold_back_another_payments(gateway: InMemoryGateway) -> None:
    await subscribe(gateway)
    first = await paid(gateway, "12800000001")
    second = await paid(gateway, "12800000002")
    await refunded(gateway, first)
    gateway.sender.will_answer(DOWN)

    await gateway.dispatch.run_once()

    assert sorted((s.event.payment_id, s.event.type.value) for s in gateway.sender.sent) == sorted(
        [(first.id, "payment.succeeded"), (second.id, "payment.succeeded")]
    )


async def test_a_deleted_subscription_gets_nothing_more(gateway: InMemoryGateway) -> None:
    subscription, _ = await subscribe(gateway)
    await paid(gateway)
    gateway.sender.will_answer(DOWN)
    await gateway.dispatch.run_once()

    removed = await gateway.webhooks.remove(subscription.id, actor="ops")
    gateway.clock.advance(timedelta(hours=1))
    await paid(gateway, "12800000002")
    await gateway.dispatch.run_once()

    assert removed.is_active is False
    assert len(gateway.sender.sent) == 1
    assert [d.status for d in gateway.db.deliveries.values()] == [DeliveryStatus.CANCELLED]
    assert await gateway.webhooks.list() == []
    with pytest.raises(WebhookNotFound):
        await gateway.webhooks.remove(subscription.id)
    with pytest.raises(WebhookNotFound):
        await gateway.webhooks.redeliver(next(iter(gateway.db.deliveries)))


async def test_redelivering_an_unknown_delivery_is_refused(gateway: InMemoryGateway) -> None:
    with pytest.raises(DeliveryNotFound):
        await gateway.webhooks.redeliver("whd_missing")


async def test_a_new_subscription_has_a_fresh_secret_and_every_event_type_by_default(gateway: InMemoryGateway) -> None:
    first, first_secret = await subscribe(gateway)
    _, second_secret = await subscribe(gateway)

    assert first_secret.startswith("whsec_") and len(first_secret) > 40 and first_secret != second_secret
    assert first.event_types == frozenset(EventType)
    assert "whsec_" not in repr(first)
    assert [(e.operation_type, e.external_id, e.actor) for e in gateway.db.audit][0] == ("webhook_add", first.id, "ops")


@pytest.mark.parametrize(
    ("url", "types", "field"),
    [
        ("ftp://crm.example/hook", None, "url"),
        ("https://user:pass@crm.example/hook", None, "url"),
        ("https:///no-host", None, "url"),
        ("https://crm.example/" + "x" * 2048, None, "url"),
        (CRM, ["payment.teleported"], "event_types"),
        (CRM, [], "event_types"),
    ],
)
async def test_a_bad_subscription_is_refused_naming_the_field(
    gateway: InMemoryGateway, url: str, types: list[str] | None, field: str
) -> None:
    with pytest.raises(InvalidValue) as refused:
        await gateway.webhooks.add(url=url, event_types=types)
    assert refused.value.field == field
    assert gateway.db.subscriptions == {}


async def test_events_are_published_to_the_broker_once_each_in_order(gateway: InMemoryGateway) -> None:
    payment = await paid(gateway, "12800000001")
    await refunded(gateway, payment)

    summary = await gateway.dispatch.run_once()
    again = await gateway.dispatch.run_once()

    assert [e.type for e in gateway.publisher.published] == [EventType.PAYMENT_SUCCEEDED, EventType.REFUND_SUCCEEDED]
    assert (summary.published, again.published) == (2, 0)
    assert all(row.published_at == START for row in gateway.db.events)


async def test_a_broker_outage_delays_events_but_never_loses_them(gateway: InMemoryGateway) -> None:
    for n in range(4):
        await paid(gateway, f"1280000000{n}")
    gateway.publisher.failures_left = 1

    down = await gateway.dispatch.run_once()  # the first batch (3) fails and stays leased
    soon = await gateway.dispatch.run_once()  # the broker is back: the fourth goes
    gateway.clock.advance(timedelta(minutes=5))
    back = await gateway.dispatch.run_once()  # the lease ran out: the first batch goes

    assert (down.published, down.publish_errors, soon.published, back.published) == (0, 1, 1, 3)
    assert sorted(e.id for e in gateway.publisher.published) == sorted(r.event.id for r in gateway.db.events)


async def test_a_stop_request_ends_the_round_before_anything_more_is_claimed(gateway: InMemoryGateway) -> None:
    await subscribe(gateway)
    await paid(gateway)
    stop = asyncio.Event()
    stop.set()

    summary = await gateway.dispatch.run_once(until=stop)

    assert summary.as_dict() == DispatchSummary().as_dict()
    assert gateway.sender.sent == [] and gateway.publisher.published == []
