"""Writing audit entries: inside a state change's transaction, or alone for a refusal."""

from __future__ import annotations

from datetime import datetime

from domain.audit import AuditEntry, Outcome
from domain.money import Money
from domain.payment import Payment

from application.ports import Clock, UnitOfWorkFactory


def payment_entry(
    operation: str,
    payment: Payment,
    outcome: Outcome,
    *,
    at: datetime,
    amount: Money | None = None,
    error: str | None = None,
    actor: str | None = None,
    source: str | None = None,
    observed_at: datetime | None = None,
    refund_id: str | None = None,
) -> AuditEntry:
    """`source` and `observed_at`: for a status change, where it came from and when the provider was seen."""
    money = amount if amount is not None else payment.amount
    return AuditEntry(
        operation_type=operation,
        status=outcome,
        created_at=at,
        shop_id=payment.shop_id,
        organization_bin=payment.merchant_account,
        external_id=payment.external_id,
        payment_id=payment.id,
        amount_minor=money.minor,
        currency=money.currency,
        provider=payment.provider,
        error_message=error,
        actor=actor,
        source=source,
        observed_at=observed_at,
        refund_id=refund_id,
    )


class AuditRecorder:
    """Appends a standalone entry in its own short transaction (refusals, provider errors)."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def record(self, entry: AuditEntry) -> None:
        async with self._uow() as uow:
            await uow.audit.append(entry)
            await uow.commit()

    async def refusal(
        self,
        operation: str,
        error: Exception,
        *,
        shop_id: int | None,
        provider: str | None,
        amount: Money | None = None,
        external_id: str | None = None,
        payment_id: str | None = None,
        organization_bin: str | None = None,
        actor: str | None = None,
    ) -> None:
        await self.record(
            AuditEntry(
                operation_type=operation,
                status=Outcome.ERROR,
                created_at=self._clock.now(),
                shop_id=shop_id,
                organization_bin=organization_bin,
                external_id=external_id,
                payment_id=payment_id,
                amount_minor=amount.minor if amount else None,
                currency=amount.currency if amount else None,
                provider=provider,
                error_message=str(error),
                actor=actor,
            )
        )
