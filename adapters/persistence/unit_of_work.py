"""The unit of work: one connection and one transaction, with the repositories bound to it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from application.ports import SecretCipher

from adapters.persistence.api_keys import SqlAlchemyApiKeyRepository
from adapters.persistence.checks import SqlAlchemyPaymentCheckRepository, SqlAlchemyRefundCheckRepository
from adapters.persistence.outbox import SqlAlchemyOutboxRepository, SqlAlchemyWebhookRepository
from adapters.persistence.repositories import (
    SqlAlchemyAuditLog,
    SqlAlchemyPaymentRepository,
    SqlAlchemyProviderEventLog,
    SqlAlchemyRefundRepository,
    SqlAlchemyRouteRepository,
)


class SqlAlchemyUnitOfWork:
    """`async with uow:` begins; `commit()` makes the work durable; leaving without it rolls back."""

    payments: SqlAlchemyPaymentRepository
    refunds: SqlAlchemyRefundRepository
    routes: SqlAlchemyRouteRepository
    audit: SqlAlchemyAuditLog
    provider_events: SqlAlchemyProviderEventLog
    api_keys: SqlAlchemyApiKeyRepository
    checks: SqlAlchemyPaymentCheckRepository
    refund_checks: SqlAlchemyRefundCheckRepository
    outbox: SqlAlchemyOutboxRepository
    webhooks: SqlAlchemyWebhookRepository

    def __init__(self, engine: AsyncEngine, *, cipher: SecretCipher | None = None) -> None:
        # `cipher` encrypts route credentials; None (plain JSON) only in tests of other concerns.
        self._engine = engine
        self._cipher = cipher
        self._connection: AsyncConnection | None = None
        self._transaction: AsyncTransaction | None = None

    async def __aenter__(self) -> Self:
        connection = await self._engine.connect()
        try:
            self._transaction = await connection.begin()
        except BaseException:
            await connection.close()
            raise
        self._connection = connection
        self.payments = SqlAlchemyPaymentRepository(connection)
        self.refunds = SqlAlchemyRefundRepository(connection)
        self.routes = SqlAlchemyRouteRepository(connection, cipher=self._cipher)
        self.audit = SqlAlchemyAuditLog(connection)
        self.provider_events = SqlAlchemyProviderEventLog(connection)
        self.api_keys = SqlAlchemyApiKeyRepository(connection)
        self.checks = SqlAlchemyPaymentCheckRepository(connection)
        self.refund_checks = SqlAlchemyRefundCheckRepository(connection)
        self.outbox = SqlAlchemyOutboxRepository(connection)
        self.webhooks = SqlAlchemyWebhookRepository(connection, cipher=self._cipher)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._connection is not None
        # Closing rolls back whatever was not committed and returns the connection to the pool.
        await self._connection.close()
        self._connection = self._transaction = None

    async def commit(self) -> None:
        assert self._transaction is not None, "commit() outside `async with`"
        await self._transaction.commit()
