"""Publishing events to RabbitMQ with publisher confirms: the `EventPublisher` adapter on aio-pika.

Messages go to a durable topic exchange with the event type as routing key and the event id as
message id, persistent. Nothing is bound here: each consumer binds its own durable queue (a message
no queue is bound for is dropped by the broker, as pub/sub does). A publish returns only once the
broker confirmed it; any trouble raises `PublishFailed`, and the event stays in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from domain.events import Event

from application.errors import PublishFailed

from adapters.notifications.wire import event_body
from adapters.redaction import redact_url

APP_ID = "paygate"


class RabbitMqPublisher:
    """Connects on first use (a broker that is down never stops the process from starting) and again
    after any failure; `close()` is called by whoever built it."""

    def __init__(self, *, url: str, exchange: str, timeout: float = 10.0) -> None:
        if not exchange:
            raise ValueError("the broker needs an exchange name")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._url = url
        self._exchange_name = exchange
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    def __repr__(self) -> str:
        return f"RabbitMqPublisher(url={redact_url(self._url)!r}, exchange={self._exchange_name!r})"

    async def publish(self, event: Event) -> None:
        message = aio_pika.Message(
            event_body(event),
            message_id=event.id,
            type=event.type.value,
            timestamp=event.occurred_at,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            app_id=APP_ID,
            headers={"payment_id": event.payment_id, "sequence": event.sequence},
        )
        async with self._lock:
            try:
                exchange = await self._ready_exchange()
                confirmation = await exchange.publish(
                    message, routing_key=event.type.value, mandatory=False, timeout=self._timeout
                )
            except (aio_pika.exceptions.AMQPError, OSError, TimeoutError) as error:
                await self._reset()
                # The type only: connection errors may repeat the URL, password included.
                raise PublishFailed(f"broker publish failed: {type(error).__name__}") from None
            if not isinstance(confirmation, aiormq.spec.Basic.Ack):
                await self._reset()
                raise PublishFailed(f"broker did not confirm event {event.id}")

    async def close(self) -> None:
        async with self._lock:
            await self._reset()

    async def _ready_exchange(self) -> AbstractExchange:
        if self._exchange is None or self._channel is None or self._channel.is_closed:
            await self._reset()
            self._connection = await aio_pika.connect(self._url, timeout=self._timeout)
            self._channel = await self._connection.channel(publisher_confirms=True)
            self._exchange = await self._channel.declare_exchange(
                self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True, timeout=self._timeout
            )
        return self._exchange

    async def _reset(self) -> None:
        connection, self._connection, self._channel, self._exchange = self._connection, None, None, None
        if connection is not None and not connection.is_closed:
            # A broken connection may fail to close; it is dropped anyway.
            with contextlib.suppress(Exception):
                await connection.close()
