"""Publishing to the real RabbitMQ on 127.0.0.1:5672: confirmed, persistent, routed by event type.

These tests fail, never skip, when RabbitMQ is not there: a run that silently drops them proves nothing.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from dependency_injector import providers

from domain.events import Event, EventType
from domain.money import Money
from domain.payment import Payment, PaymentMethod

from application.errors import PublishFailed

from adapters.notifications.rabbitmq import RabbitMqPublisher
from adapters.notifications.wire import event_body
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork

from config.container import build_container, close_resources, open_resources
from config.settings import Settings

from tests.fakes.notifications import RecordingWebhookSender
from tests.support.servers import free_port

pytestmark = pytest.mark.anyio

BROKER_URL = os.environ.get("PAYGATE_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")
AT = datetime(2025, 10, 22, 12, 0, tzinfo=UTC)


def _event(kind: EventType, sequence: int) -> Event:
    return Event(
        id=f"evt_{secrets.token_hex(8)}",
        type=kind,
        payment_id="pay_01",
        occurred_at=AT,
        data={"payment": {"id": "pay_01", "amount": 500000}},
        sequence=sequence,
    )


@pytest.fixture
async def channel() -> AsyncIterator[AbstractChannel]:
    try:
        connection = await aio_pika.connect(BROKER_URL, timeout=5)
    except Exception as error:  # noqa: BLE001 - any reason RabbitMQ is unusable fails the test
        pytest.fail(f"RabbitMQ tests cannot run: {BROKER_URL} is unreachable ({type(error).__name__})", pytrace=False)
    try:
        yield await connection.channel()
    finally:
        await connection.close()


@pytest.fixture
def exchange_name() -> str:
    return f"paygate.test.{secrets.token_hex(6)}"


@pytest.fixture
async def queue(channel: AbstractChannel, exchange_name: str) -> AsyncIterator[AbstractQueue]:
    """A consumer's temporary queue, bound to the exchange for every payment event."""
    exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
    declared = await channel.declare_queue(exclusive=True)  # gone with the connection
    await declared.bind(exchange, routing_key="payment.*")
    try:
        yield declared
    finally:
        await declared.delete(if_unused=False, if_empty=False)
        await exchange.delete()


async def _next(queue: AbstractQueue) -> AbstractIncomingMessage:
    async with queue.iterator(timeout=5) as messages:
        async for message in messages:
            await message.ack()
            return message
    raise AssertionError("no message arrived")


@pytest.fixture
async def publisher(exchange_name: str) -> AsyncIterator[RabbitMqPublisher]:
    publisher = RabbitMqPublisher(url=BROKER_URL, exchange=exchange_name, timeout=5)
    try:
        yield publisher
    finally:
        await publisher.close()


async def test_an_event_is_confirmed_persistent_and_routed_by_its_type(
    publisher: RabbitMqPublisher, queue: AbstractQueue
) -> None:
    created, succeeded = _event(EventType.PAYMENT_CREATED, 1), _event(EventType.PAYMENT_SUCCEEDED, 2)
    refund = _event(EventType.REFUND_SUCCEEDED, 3)  # not bound: the consumer asked for payment.* only

    for event in (created, refund, succeeded):
        await publisher.publish(event)

    first, second = await _next(queue), await _next(queue)
    assert [(m.message_id, m.routing_key, m.type) for m in (first, second)] == [
        (created.id, "payment.created", "payment.created"),
        (succeeded.id, "payment.succeeded", "payment.succeeded"),
    ]
    assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert (first.content_type, first.app_id) == ("application/json", "paygate")
    assert first.body == event_body(created)
    assert json.loads(second.body)["sequence"] == 2
    assert (await queue.get(fail=False, timeout=1)) is None


async def test_the_publisher_comes_back_after_its_connection_was_closed(
    publisher: RabbitMqPublisher, queue: AbstractQueue
) -> None:
    await publisher.publish(_event(EventType.PAYMENT_CREATED, 1))
    await publisher.close()  # as a broker restart would leave it
    again = _event(EventType.PAYMENT_FAILED, 2)

    await publisher.publish(again)

    assert (await _next(queue)).type == "payment.created"
    assert (await _next(queue)).message_id == again.id


async def test_a_broker_that_cannot_be_reached_fails_the_publish_without_its_password() -> None:
    publisher = RabbitMqPublisher(url=f"amqp://guest:s3cret-pw@127.0.0.1:{free_port()}/", exchange="paygate.x", timeout=2)
    try:
        with pytest.raises(PublishFailed) as failed:
            await publisher.publish(_event(EventType.PAYMENT_CREATED, 1))
    finally:
        await publisher.close()
    assert "s3cret-pw" not in str(failed.value)
    assert "s3cret-pw" not in repr(publisher)


async def test_the_dispatcher_publishes_the_outbox_once_and_records_it(
    sqlite_url: str, exchange_name: str, queue: AbstractQueue
) -> None:
    # The dispatcher as the container wires it from BROKER_URL; only the webhook sender is a fake.
    container = build_container(Settings(database_url=sqlite_url, broker_url=BROKER_URL, broker_exchange=exchange_name))
    container.webhook_sender.override(providers.Object(RecordingWebhookSender()))
    await open_resources(container)
    try:
        engine = container.engine()
        payment = Payment(
            id="pay_01", shop_id=121038, provider="kaspi", method=PaymentMethod.REMOTE, amount=Money(500000, "KZT"),
            merchant_account="920317450731", description="", created_at=AT, updated_at=AT,
        )
        events = [_event(EventType.PAYMENT_CREATED, 1), _event(EventType.PAYMENT_SUCCEEDED, 2)]
        async with SqlAlchemyUnitOfWork(engine) as uow:
            await uow.payments.add(payment)
            for event in events:
                await uow.outbox.add(event)
            await uow.commit()
        dispatcher = container.dispatch_events()

        first, second = await dispatcher.run_once(), await dispatcher.run_once()

        async with SqlAlchemyUnitOfWork(engine) as uow:
            pending = await uow.outbox.claim_unpublished(now=datetime.now(UTC), lease_until=datetime.now(UTC), limit=10)
    finally:
        await close_resources(container)
    assert (first.published, second.published) == (2, 0)
    assert [(await _next(queue)).message_id for _ in events] == [e.id for e in events]
    assert pending == []
