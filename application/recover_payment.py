"""Give a payment whose create answer was lost the provider's id an operator found, then sync it.

A create that timed out, or whose gateway died mid-call, may exist at the provider with an id we
never learnt; the Kaspi proxy cannot look a payment up by anything of ours. The operator finds it
in the merchant cabinet (amount, phone, time, message) and attaches its id here: from then on the
payment is an ordinary one, settled by status sync and polled like the others.

A wrong id would settle this payment with another one's money, so the id is checked before it is
attached: it must be bound to no other payment, the provider must know it under this shop's own
credentials (which proves the merchant account), and its amount must be this payment's. Where the
provider's answer does not name the amount (Kaspi's status), the operator must give the amount seen
in the merchant cabinet, and it must be this payment's; nothing about the payment is shown before.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from domain.audit import Outcome
from domain.errors import InvalidValue
from domain.events import EventType
from domain.money import Money
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
from application.ports import Clock, IdGenerator, PaymentProvider, ProviderPayment, RouteStore, UnitOfWorkFactory
from application.providers import ProviderDirectory
from application.sync_status import SyncPaymentStatus

OPERATION = "recover"


@attrs.frozen
class AttachCheck:
    """A verified pair: the payment whose answer was lost, and the provider's payment of that id."""

    payment: Payment
    observed: ProviderPayment


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

    async def check(
        self, payment_id: str, external_id: str, *, typed_amount: Decimal | None = None, actor: str
    ) -> AttachCheck:
        """Everything `execute` verifies, changing nothing: what an operator confirms before attaching."""
        payment = await self._unanswered(payment_id, actor=actor)
        try:
            await self._not_bound_elsewhere(payment, external_id)
            provider = self._providers.get(payment.provider)
            observed = await self._observe(payment, provider, external_id)
            self._same_amount(payment, observed, typed_amount)
        except (InvalidValue, PaymentDeclined, ProviderOutcomeUnknown) as refusal:
            await self._audit_refusal(payment, external_id, refusal, actor=actor)
            raise
        return AttachCheck(payment=payment, observed=observed)

    async def execute(
        self, payment_id: str, external_id: str, *, typed_amount: Decimal | None = None, actor: str
    ) -> Payment:
        checked = await self.check(payment_id, external_id, typed_amount=typed_amount, actor=actor)
        payment, observed = checked.payment, checked.observed
        provider = self._providers.get(payment.provider)
        now = self._clock.now()
        async with self._uow() as uow:
            _not_bound(payment, external_id, await uow.payments.get_by_external_id(payment.provider, external_id))
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

    async def _not_bound_elsewhere(self, payment: Payment, external_id: str) -> None:
        async with self._uow() as uow:
            _not_bound(payment, external_id, await uow.payments.get_by_external_id(payment.provider, external_id))

    async def _observe(self, payment: Payment, provider: PaymentProvider, external_id: str) -> ProviderPayment:
        route = await self._routes.get(payment.shop_id, payment.provider)
        if route is None:
            raise ShopNotFound(payment.shop_id, payment.provider)
        # The provider must know the id under this shop's own credentials, or it is not this shop's.
        try:
            return await provider.fetch_payment(route, external_id)
        except ProviderDeclined as declined:
            raise PaymentDeclined(payment.id, declined.code, declined.message) from None
        except ProviderUnavailable as unknown:
            raise ProviderOutcomeUnknown(payment.id, unknown.reason, unknown.timed_out) from None

    @staticmethod
    def _same_amount(payment: Payment, observed: ProviderPayment, typed_amount: Decimal | None) -> None:
        if observed.amount is not None and observed.amount != payment.amount:
            raise InvalidValue(
                "external_id",
                f"{payment.provider} payment {observed.external_id} is for {observed.amount}, "
                f"not this payment's {payment.amount}",
            )
        if typed_amount is None:
            if observed.amount is None:
                raise InvalidValue(
                    "amount",
                    f"{payment.provider} does not say a payment's amount: give the amount shown in its merchant "
                    "cabinet for that id",
                )
            return
        try:
            typed = Money.from_major(typed_amount, payment.amount.currency)
        except InvalidValue:
            raise InvalidValue("amount", f"not an amount in {payment.amount.currency}") from None
        if typed != payment.amount:
            # The payment's own amount is not told: the operator must read it off the cabinet.
            raise InvalidValue("amount", "the amount given is not this payment's: nothing attached")

    async def _audit_refusal(self, payment: Payment, external_id: str, refusal: Exception, *, actor: str) -> None:
        async with self._uow() as uow:
            await uow.audit.append(
                payment_entry(
                    OPERATION, payment, Outcome.ERROR, at=self._clock.now(),
                    error=f"attach {external_id} refused: {refusal}", actor=actor,
                )
            )
            await uow.commit()

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


def _not_bound(payment: Payment, external_id: str, other: Payment | None) -> None:
    """One provider payment settles one of ours: an id bound to another payment is never attached."""
    if other is not None:
        raise InvalidValue("external_id", f"{payment.provider} payment {external_id} belongs to {other.id}")
