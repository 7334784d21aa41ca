"""What capture and cancel share: ask the provider to act on an open payment, then apply its answer.

The provider is called with no transaction open, and its answer goes through the one status-change
path (`SyncPaymentStatus.apply`). An unknown outcome changes nothing: the payment stays as it was
(status sync or the poller learns the truth later), and a retry sends the same idempotency key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from datetime import datetime

from domain.audit import Outcome
from domain.capabilities import Capability
from domain.errors import DomainError
from domain.payment import SETTLED, Payment

from application.audit import AuditRecorder, payment_entry
from application.errors import (
    ApplicationError,
    CapabilityNotSupported,
    PaymentDeclined,
    PaymentNotFound,
    ProviderDeclined,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
)
from application.ports import (
    Clock,
    PaymentAction,
    PaymentProvider,
    ProviderPayment,
    RouteStore,
    UnitOfWorkFactory,
)
from application.providers import ProviderDirectory
from application.routing import active_route
from application.sync_status import SyncPaymentStatus

# The provider call an action makes: `provider.capture` or `provider.cancel`.
ProviderCall = Callable[[PaymentProvider, PaymentAction], Awaitable[ProviderPayment]]


class PaymentActionRunner:
    """Runs one kind of action; the use cases say which capability, states and provider call."""

    def __init__(
        self,
        *,
        operation: str,
        capability: Capability,
        call: ProviderCall,
        uow: UnitOfWorkFactory,
        routes: RouteStore,
        providers: ProviderDirectory,
        sync: SyncPaymentStatus,
        audit: AuditRecorder,
        clock: Clock,
    ) -> None:
        self.operation = operation
        self._capability = capability
        self._call = call
        self._uow = uow
        self._routes = routes
        self._providers = providers
        self._sync = sync
        self._audit = audit
        self._clock = clock

    async def owned_payment(self, payment_id: str, shops: Collection[int] | None) -> Payment:
        """`shops`: the caller's reach (None: every shop); another shop's payment does not exist for it."""
        async with self._uow() as uow:
            payment = await uow.payments.get(payment_id)
        if payment is None or (shops is not None and payment.shop_id not in shops):
            raise PaymentNotFound(payment_id)
        return payment

    def check_capability(self, payment: Payment) -> PaymentProvider:
        provider = self._providers.get(payment.provider)
        if not provider.profile.supports(self._capability):
            raise CapabilityNotSupported(payment.provider, self._capability.value)
        return provider

    async def refresh(self, payment: Payment, actor: str | None) -> Payment:
        return await self._sync.refresh(payment, actor=actor)

    async def refuse(self, error: Exception, payment_id: str, payment: Payment | None, actor: str | None) -> None:
        await self._audit.refusal(
            self.operation, error,
            shop_id=payment.shop_id if payment else None,
            provider=payment.provider if payment else None,
            external_id=payment.external_id if payment else None,
            payment_id=payment_id,
            organization_bin=payment.merchant_account if payment else None,
            actor=actor,
        )

    async def act(self, payment: Payment, provider: PaymentProvider, actor: str | None) -> Payment:
        """Call the provider for an open payment with an external id, and apply what it answers."""
        assert payment.external_id is not None
        try:
            route = await active_route(self._routes, payment.shop_id, payment.provider)
        except (ApplicationError, DomainError) as refusal:
            await self.refuse(refusal, payment.id, payment, actor)
            raise
        action = PaymentAction(
            payment_id=payment.id,
            # Stable for this payment and action: a retry after a lost answer cannot act twice.
            idempotency_key=f"{payment.id}-{self.operation}",
            route=route,
            external_id=payment.external_id,
            amount=payment.amount,
            payment_link=payment.payment_link,
        )
        try:
            answer = await self._call(provider, action)
        except ProviderDeclined as declined:
            await self._audit.record(
                payment_entry(self.operation, payment, Outcome.ERROR, at=self._now(), error=str(declined), actor=actor)
            )
            raise PaymentDeclined(payment.id, declined.code, declined.message) from None
        except ProviderUnavailable as unknown:
            await self._audit.record(
                payment_entry(
                    self.operation, payment, Outcome.PENDING, at=self._now(),
                    error=f"outcome unknown: {unknown.reason}", actor=actor,
                )
            )
            raise ProviderOutcomeUnknown(payment.id, unknown.reason, unknown.timed_out) from None
        # An answer that settles nothing yet (the provider is still working on it) is left to
        # status sync: applying "pending" to an authorised payment would be a step backwards.
        current = await self._sync.apply(payment.id, answer, actor=actor) if answer.outcome in SETTLED else payment
        await self._audit.record(payment_entry(self.operation, current, Outcome.SUCCESS, at=self._now(), actor=actor))
        return current

    def _now(self) -> datetime:
        return self._clock.now()
