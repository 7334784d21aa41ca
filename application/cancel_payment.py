"""Cancel an open payment: an authorised two-step payment is released, a pending one withdrawn."""

from __future__ import annotations

from collections.abc import Collection

from domain.errors import DomainError
from domain.payment import OPEN, Payment

from application.audit import AuditRecorder
from application.errors import ApplicationError, PaymentNotCancellable
from application.payment_actions import PaymentActionRunner
from application.ports import (
    Capability,
    Clock,
    PaymentAction,
    PaymentProvider,
    ProviderPayment,
    RouteStore,
    UnitOfWorkFactory,
)
from application.providers import ProviderDirectory
from application.sync_status import SyncPaymentStatus

OPERATION = "cancel"


async def _cancel(provider: PaymentProvider, action: PaymentAction) -> ProviderPayment:
    return await provider.cancel(action)


class CancelPayment:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        routes: RouteStore,
        providers: ProviderDirectory,
        sync: SyncPaymentStatus,
        audit: AuditRecorder,
        clock: Clock,
    ) -> None:
        self._runner = PaymentActionRunner(
            operation=OPERATION, capability=Capability.CANCEL, call=_cancel,
            uow=uow, routes=routes, providers=providers, sync=sync, audit=audit, clock=clock,
        )

    async def execute(
        self, payment_id: str, *, shops: Collection[int] | None = None, actor: str | None = None
    ) -> Payment:
        """`shops` is the caller's reach (None: every shop). A paid payment is refunded, not cancelled:
        the provider refuses a cancel that comes too late, and its refusal is the answer."""
        runner = self._runner
        payment: Payment | None = None
        try:
            payment = await runner.owned_payment(payment_id, shops)
            provider = runner.check_capability(payment)
            # Without an external id the provider never named the payment (its create is still out,
            # or its outcome unknown): there is nothing yet that could be cancelled there.
            if payment.status not in OPEN or payment.external_id is None:
                raise PaymentNotCancellable(payment.id, payment.status.value)
        except (ApplicationError, DomainError) as refusal:
            await runner.refuse(refusal, payment_id, payment, actor)
            raise
        return await runner.act(payment, provider, actor)
