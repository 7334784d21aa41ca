"""The create's two writes through any unit of work: SQLite, the test fakes, any future store."""

from __future__ import annotations

from collections.abc import Sequence

from domain.audit import AuditEntry
from domain.events import Event
from domain.payment import Payment
from domain.polling import PaymentCheck

from application.ports import UnitOfWork, UnitOfWorkFactory


async def write_records(
    uow: UnitOfWork, entry: AuditEntry, events: Sequence[Event], check: PaymentCheck | None
) -> None:
    """What is written with a create's answer besides the payment, in `uow`'s transaction."""
    await uow.audit.append(entry)
    for event in events:
        await uow.outbox.add(event)
    if check is not None:
        await uow.checks.add(check)


class TransactionalCreationJournal:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def open(self, payment: Payment) -> None:
        async with self._uow() as uow:
            await uow.payments.add(payment)
            await uow.commit()

    async def record_answer(
        self,
        payment: Payment,
        expected_version: int,
        *,
        entry: AuditEntry,
        events: Sequence[Event],
        check: PaymentCheck | None,
    ) -> bool:
        async with self._uow() as uow:
            # The UPDATE of the compare-and-set takes the row lock, so nothing else changes the
            # payment before this transaction commits.
            if not await uow.payments.update(payment, expected_version):
                return False
            await write_records(uow, entry, events, check)
            await uow.commit()
        return True
