"""Give a payment whose create answer was lost the provider's id an operator found, then sync it.

A create that timed out, or whose gateway died mid-call, may exist at the provider with an id we
never learnt; the Kaspi proxy cannot look a payment up by anything of ours. The operator finds it
in the merchant cabinet (amount, phone, time, message) and attaches its id here: from then on the
payment is an ordinary one, settled by status sync and polled like the others.
"""

from __future__ import annotations

from domain.audit import Outcome
from domain.errors import InvalidValue
from domain.events import EventType
from domain.payment import OPEN, Payment
from domain.polling import PaymentCheck

from application.audit import payment_entry
from application.errors import (
    ConcurrentUpdate,
    PaymentDeclined,
    PaymentNotFound,
    ProviderDeclined,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
    ShopNotFound,
)
from application.events import record_event
from application.ports import Clock, IdGenerator, RouteStore, UnitOfWorkFactory
from application.providers import ProviderDirectory
from application.sync_status import SyncPaymentStatus

OPERATION = "recover"


class AttachExternalId:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        routes: RouteStore,
        providers: ProviderDirectory,
        sync: SyncPaymentStatus,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self._uow = uow
        self._routes = routes
        self._providers = providers
        self._sync = sync
        self._clock = clock
        self._ids = ids

    async def execute(self, payment_id: str, external_id: str, *, actor: str) -> Payment:
        payment = await self._unanswered(payment_id, actor=actor)
        route = await self._routes.get(payment.shop_id, payment.provider)
        if route is None:
            raise ShopNotFound(payment.shop_id, payment.provider)
        provider = self._providers.get(payment.provider)
        # The provider must know the id under this shop's own credentials, or it is not this shop's.
        try:
            observed = await provider.fetch_payment(route, external_id)
        except ProviderDeclined as declined:
            raise PaymentDeclined(payment.id, declined.code, declined.message) from None
        except ProviderUnavailable as unknown:
            raise ProviderOutcomeUnknown(payment.id, unknown.reason, unknown.timed_out) from None
        now = self._clock.now()
        async with self._uow() as uow:
            other = await uow.payments.get_by_external_id(payment.provider, external_id)
            if other is not None:
                raise InvalidValue("external_id", f"{payment.provider} payment {external_id} belongs to {other.id}")
            current = await uow.payments.get(payment.id, for_update=True)
            assert current is not None
            if current.status not in OPEN or current.external_id is not None:
                raise InvalidValue("payment_id", f"payment {payment.id} has its provider's answer already")
            expected = current.version
            current.record_provider_acceptance(
                external_id=external_id,
                provider_status=observed.provider_status,
                expires_at=current.created_at + provider.profile.payment_lifetime,
                at=now,
            )
            if not await uow.payments.update(current, expected):
                raise ConcurrentUpdate(current.id)
            await uow.audit.append(payment_entry(OPERATION, current, Outcome.SUCCESS, at=now, actor=actor))
            # What the create would have told subscribers, had its answer arrived.
            await record_event(uow, self._ids, EventType.PAYMENT_CREATED, current, at=now)
            await uow.checks.add(PaymentCheck(payment_id=current.id, next_check_at=now))
            await uow.commit()
        return await self._sync.apply(current.id, observed, actor=actor)

    async def _unanswered(self, payment_id: str, *, actor: str) -> Payment:
        """The payment, if its create's outcome is known to be unknown (never one still in flight)."""
        async with self._uow() as uow:
            payment = await uow.payments.get(payment_id)
        if payment is None:
            raise PaymentNotFound(payment_id)
        if payment.status not in OPEN or payment.external_id is not None:
            raise InvalidValue("payment_id", f"payment {payment_id} has its provider's answer already")
        # Without a provider id this asks nobody: it flags a lost answer once it cannot be in flight.
        payment = await self._sync.refresh(payment, actor=actor)
        if payment.error_code != ProviderOutcomeUnknown.code:
            raise InvalidValue("payment_id", f"payment {payment_id} may still be waiting for its provider; retry later")
        return payment
