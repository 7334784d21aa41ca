"""Capture a two-step payment the provider has authorised: the held funds are taken."""

from __future__ import annotations

from collections.abc import Collection

from domain.errors import DomainError
from domain.payment import Payment, PaymentStatus

from application.audit import AuditRecorder
from application.errors import ApplicationError, PaymentNotCapturable
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

OPERATION = "capture"


async def _capture(provider: PaymentProvider, action: PaymentAction) -> ProviderPayment:
    return await provider.capture(action)


class CapturePayment:
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
            operation=OPERATION, capability=Capability.TWO_STEP, call=_capture,
            uow=uow, routes=routes, providers=providers, sync=sync, audit=audit, clock=clock,
        )

    async def execute(
        self, payment_id: str, *, shops: Collection[int] | None = None, actor: str | None = None
    ) -> Payment:
        """The whole authorised amount is captured; `shops` is the caller's reach (None: every shop)."""
        runner = self._runner
        payment: Payment | None = None
        try:
            payment = await runner.owned_payment(payment_id, shops)
            provider = runner.check_capability(payment)
            if payment.status is PaymentStatus.PENDING:
                # The customer may have authorised it since we last looked.
                payment = await runner.refresh(payment, actor)
            if not payment.manual_capture or payment.status is not PaymentStatus.AUTHORIZED:
                raise PaymentNotCapturable(payment.id, payment.status.value)
        except (ApplicationError, DomainError) as refusal:
            await runner.refuse(refusal, payment_id, payment, actor)
            raise
        return await runner.act(payment, provider, actor)
