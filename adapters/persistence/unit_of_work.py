"""The unit of work: one connection and one transaction, with the repositories bound to it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from adapters.persistence.repositories import (
    SqlAlchemyAuditLog,
    SqlAlchemyPaymentRepository,
    SqlAlchemyRefundRepository,
    SqlAlchemyRouteRepository,
)


class SqlAlchemyUnitOfWork:
    """`async with uow:` begins; `commit()` makes the work durable; leaving without it rolls back."""

    payments: SqlAlchemyPaymentRepository
    refunds: SqlAlchemyRefundRepository
    routes: SqlAlchemyRouteRepository
    audit: SqlAlchemyAuditLog

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
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
        self.routes = SqlAlchemyRouteRepository(connection)
        self.audit = SqlAlchemyAuditLog(connection)
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
