"""The one path for every payment status change: API refreshes, the poller and webhooks use it.

Each change is a row-locked compare-and-set with exactly one audit entry, whatever the race: the
loser of a race finds the payment already moved and records nothing.
"""

from __future__ import annotations

from domain.audit import Outcome
from domain.payment import Payment, PaymentStatus

from application.audit import AuditRecorder, payment_entry
from application.errors import (
    ConcurrentUpdate,
    PaymentNotFound,
    ProviderDeclined,
    ProviderUnavailable,
)
from application.ports import Clock, ProviderPayment, RouteStore, UnitOfWorkFactory
from application.providers import ProviderDirectory

OPERATION = "status_change"
CHECK = "status"


class SyncPaymentStatus:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        routes: RouteStore,
        providers: ProviderDirectory,
        audit: AuditRecorder,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._routes = routes
        self._providers = providers
        self._audit = audit
        self._clock = clock

    async def refresh(self, payment: Payment, *, actor: str | None = None) -> Payment:
        """Ask the provider about a pending payment and apply the answer.

        A provider error is recorded and the stored payment returned unchanged: an unanswered
        status question never fails a payment.
        """
        if payment.status is not PaymentStatus.PENDING or payment.external_id is None:
            return payment
        provider = self._providers.get(payment.provider)
        route = await self._routes.get(payment.shop_id, payment.provider)
        if route is None:
            return payment
        try:
            observed = await provider.fetch_payment(route, payment.external_id)
        except (ProviderUnavailable, ProviderDeclined) as error:
            await self._audit.refusal(
                CHECK, error, shop_id=payment.shop_id, provider=payment.provider,
                external_id=payment.external_id, payment_id=payment.id,
                organization_bin=payment.merchant_account, actor=actor,
            )
            return payment
        return await self.apply(payment.id, observed, actor=actor)

    async def apply(self, payment_id: str, observed: ProviderPayment, *, actor: str | None = None) -> Payment:
        now = self._clock.now()
        async with self._uow() as uow:
            payment = await uow.payments.get(payment_id, for_update=True)
            if payment is None:
                raise PaymentNotFound(payment_id)
            if payment.status is not PaymentStatus.PENDING:
                return payment  # someone else settled it first: nothing to record
            expected = payment.version
            outcome = observed.outcome
            if outcome is PaymentStatus.FAILED and payment.expires_at is not None and now >= payment.expires_at:
                # Kaspi answers the same `Error` for a decline and for its own 24 h cancellation.
                outcome = PaymentStatus.EXPIRED
            previous_provider_status = payment.provider_status
            changed = payment.settle(
                outcome,
                provider_status=observed.provider_status,
                at=now,
                error_code=observed.provider_status if outcome is not PaymentStatus.SUCCEEDED else None,
                error_message=f"provider status {observed.provider_status}" if outcome is not PaymentStatus.SUCCEEDED else None,
            )
            if not changed and previous_provider_status == observed.provider_status:
                return payment
            if not await uow.payments.update(payment, expected):
                raise ConcurrentUpdate(payment_id)
            if changed:
                await uow.audit.append(payment_entry(OPERATION, payment, Outcome.SUCCESS, at=now, actor=actor))
            await uow.commit()
        return payment
