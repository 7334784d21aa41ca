"""Payment reads through any unit of work: SQLite, the test fakes, any future store."""

from __future__ import annotations

from domain.payment import Payment

from application.ports import UnitOfWorkFactory


class TransactionalPaymentLookup:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def get(self, payment_id: str) -> Payment | None:
        async with self._uow() as uow:
            return await uow.payments.get(payment_id)

    async def by_external_id(self, provider: str, external_id: str) -> Payment | None:
        async with self._uow() as uow:
            return await uow.payments.get_by_external_id(provider, external_id)

    async def by_idempotency_key(self, key: str) -> Payment | None:
        async with self._uow() as uow:
            return await uow.payments.get_by_idempotency_key(key)
