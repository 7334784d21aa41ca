"""The one path for every payment status change: API refreshes, the poller and webhooks use it.

Each change is a row-locked compare-and-set with exactly one audit entry, whatever the race: the
loser of a race finds the payment already moved and records nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from domain.audit import Outcome
from domain.events import EventType, settlement_event
from domain.payment import MONEY_TAKEN, OPEN, UNSUCCESSFUL, Payment, PaymentStatus
from domain.polling import PaymentCheck

from application.audit import AuditRecorder, payment_entry
from application.errors import (
    ConcurrentUpdate,
    PaymentNotFound,
    ProviderDeclined,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
)
from application.events import record_event
from application.ports import Clock, IdGenerator, ProviderPayment, RouteStore, UnitOfWork, UnitOfWorkFactory
from application.provenance import source_of
from application.providers import ProviderDirectory

logger = logging.getLogger("paygate.sync_status")

OPERATION = "status_change"
ATTEMPT = "attempt"
LATE_SUCCESS = "late_success"
CHECK = "status"
# A create still without the provider's answer this long after it started cannot be in flight any
# more (provider calls time out in seconds): the process making it died between the provider's
# acceptance and the database update.
LOST_ANSWER_AFTER = timedelta(minutes=5)
LOST_ANSWER = (
    "the gateway stopped before it recorded the provider's answer; the provider may have the payment: "
    "find it in the provider's merchant cabinet and attach its id (`paygate payments attach`)"
)


class SyncPaymentStatus:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        routes: RouteStore,
        providers: ProviderDirectory,
        audit: AuditRecorder,
        clock: Clock,
        ids: IdGenerator,
        lost_answer_after: timedelta = LOST_ANSWER_AFTER,
    ) -> None:
        self._uow = uow
        self._routes = routes
        self._providers = providers
        self._audit = audit
        self._clock = clock
        self._ids = ids
        self._lost_answer_after = lost_answer_after

    async def refresh(self, payment: Payment, *, actor: str | None = None, source: str | None = None) -> Payment:
        """Ask the provider about a pending payment and apply the answer.

        A provider error is recorded and the stored payment returned unchanged: an unanswered
        status question never fails a payment.
        """
        if payment.status in OPEN and payment.external_id is None:
            return await self._note_lost_answer(payment, actor=actor)
        if payment.status not in OPEN:
            return payment
        observed = await self.observe(payment, actor=actor)
        if observed is None:
            return payment
        if not is_news(payment, observed):
            # Nothing new since it was read (the usual answer while a customer decides): no change to
            # apply, so no transaction and no row lock. A change made meanwhile by someone else is
            # theirs to record; this read may return the copy from a moment before it.
            return payment
        return await self.apply(payment.id, observed, actor=actor, source=source)

    async def _note_lost_answer(self, payment: Payment, *, actor: str | None) -> Payment:
        """Flag, once, a create whose answer never reached the database as an unknown outcome.

        Without the provider's id nobody can ask the provider (the Kaspi proxy has no lookup by our
        id), so it stays pending: retries get `provider_outcome_unknown`, the audit log and the
        `paygate_payments_outcome_unknown` gauge show it to an operator.
        """
        now = self._clock.now()
        if payment.error_code is not None or now - payment.created_at < self._lost_answer_after:
            return payment  # flagged already, or the create may still be in flight
        async with self._uow() as uow:
            current = await uow.payments.get(payment.id, for_update=True)
            if current is None or current.status not in OPEN or current.external_id is not None or current.error_code:
                return current or payment  # answered or flagged meanwhile
            expected = current.version
            current.note_unknown_outcome(ProviderOutcomeUnknown.code, LOST_ANSWER, at=now)
            if not await uow.payments.update(current, expected):
                raise ConcurrentUpdate(payment.id)
            await uow.audit.append(
                payment_entry(
                    "create", current, Outcome.PENDING, at=now, error=f"outcome unknown: {LOST_ANSWER}", actor=actor
                )
            )
            await uow.commit()
        return current

    async def observe(self, payment: Payment, *, actor: str | None = None) -> ProviderPayment | None:
        """The provider's view of an open payment, or None when it gave none (the error is audited)."""
        if payment.external_id is None:
            return None
        provider = self._providers.get(payment.provider)
        route = await self._routes.get(payment.shop_id, payment.provider)
        if route is None:
            return None
        try:
            return await provider.fetch_payment(route, payment.external_id)
        except (ProviderUnavailable, ProviderDeclined) as error:
            await self._audit.refusal(
                CHECK,
                error,
                shop_id=payment.shop_id,
                provider=payment.provider,
                external_id=payment.external_id,
                payment_id=payment.id,
                organization_bin=payment.merchant_account,
                actor=actor,
            )
            return None

    async def apply(
        self, payment_id: str, observed: ProviderPayment, *, actor: str | None = None, source: str | None = None
    ) -> Payment:
        """`source`: where the answer came from (`application.provenance`); by default the actor's."""
        now = self._clock.now()
        source = source or source_of(actor)
        async with self._uow() as uow:
            payment = await uow.payments.get(payment_id, for_update=True)
            if payment is None:
                raise PaymentNotFound(payment_id)
            if payment.status in UNSUCCESSFUL and observed.outcome in MONEY_TAKEN:
                return await self._record_late_success(uow, payment, observed, actor=actor, source=source)
            if payment.status not in OPEN:
                # Someone else settled it first: nothing to record but the wallet, which the change
                # that settled it may not have known (a webhook's snapshot names the Charge only by id).
                return await self._note_late_wallet(uow, payment, observed)
            expected = payment.version
            outcome = observed.outcome
            if outcome is PaymentStatus.PENDING and observed.declined_attempt is not None:
                return await self._note_declined_attempt(uow, payment, observed, actor=actor, source=source)
            if outcome is PaymentStatus.PENDING and payment.status is PaymentStatus.AUTHORIZED:
                # A provider answer lagging behind a webhook: an authorisation is never undone.
                return payment
            if outcome is PaymentStatus.FAILED and payment.expires_at is not None and now >= payment.expires_at:
                # Kaspi answers the same `Error` for a decline and for its own 24 h cancellation.
                outcome = PaymentStatus.EXPIRED
            previous_provider_status = payment.provider_status
            changed = payment.settle(
                outcome,
                provider_status=observed.provider_status,
                at=now,
                error_code=observed.provider_status if outcome in UNSUCCESSFUL else None,
                error_message=(observed.failure_reason or f"provider status {observed.provider_status}")
                if outcome in UNSUCCESSFUL
                else None,
            )
            wallet_told = payment.note_wallet(observed.wallet)
            if not changed and previous_provider_status == observed.provider_status and not wallet_told:
                return payment
            if changed:
                payment.note_source(source, now)
            if not await uow.payments.update(payment, expected):
                raise ConcurrentUpdate(payment_id)
            if changed:
                await uow.audit.append(
                    payment_entry(
                        OPERATION, payment, Outcome.SUCCESS, at=now, actor=actor, source=source, observed_at=now
                    )
                )
                await record_event(uow, self._ids, settlement_event(payment.status), payment, at=now, source=source)
                if payment.status not in OPEN:
                    await uow.checks.remove(payment.id)  # nothing left to poll for
            await uow.commit()
        return payment

    async def _note_late_wallet(self, uow: UnitOfWork, payment: Payment, observed: ProviderPayment) -> Payment:
        """The card wallet that paid a payment settled without it: no status change, no audit entry, no event."""
        if observed.outcome not in MONEY_TAKEN or payment.status in UNSUCCESSFUL:
            return payment
        expected = payment.version
        if not payment.note_wallet(observed.wallet):
            return payment
        if not await uow.payments.update(payment, expected):
            raise ConcurrentUpdate(payment.id)
        await uow.commit()
        return payment

    async def _note_declined_attempt(
        self, uow: UnitOfWork, payment: Payment, observed: ProviderPayment, *, actor: str | None, source: str
    ) -> Payment:
        """A declined attempt the customer may retry: no state change, the decline noted and told once."""
        attempt = observed.declined_attempt
        assert attempt is not None
        if payment.status is not PaymentStatus.PENDING:
            return payment  # an authorisation is never undone by a later attempt's decline
        now = self._clock.now()
        expected = payment.version
        if observed.provider_status:
            payment.provider_status = observed.provider_status
        if not payment.note_declined_attempt(attempt.code, attempt.message, at=now):
            return payment
        if not await uow.payments.update(payment, expected):
            raise ConcurrentUpdate(payment.id)
        await uow.audit.append(
            payment_entry(
                ATTEMPT,
                payment,
                Outcome.ERROR,
                at=now,
                error=payment.error_message,
                actor=actor,
                source=source,
                observed_at=now,
            )
        )
        await record_event(uow, self._ids, EventType.PAYMENT_ATTEMPT_FAILED, payment, at=now, source=source)
        await uow.commit()
        return payment

    async def _record_late_success(
        self, uow: UnitOfWork, payment: Payment, observed: ProviderPayment, *, actor: str | None, source: str
    ) -> Payment:
        """Money taken for a payment closed here: recorded as the provider says, flagged, never dropped."""
        now = self._clock.now()
        expected = payment.version
        previous = payment.status.value
        payment.record_late_success(observed.outcome, provider_status=observed.provider_status, at=now)
        payment.note_wallet(observed.wallet)
        payment.note_source(source, now)
        if not await uow.payments.update(payment, expected):
            raise ConcurrentUpdate(payment.id)
        await uow.audit.append(
            payment_entry(
                LATE_SUCCESS,
                payment,
                Outcome.ERROR,
                at=now,
                error=payment.error_message,
                actor=actor,
                source=source,
                observed_at=now,
            )
        )
        await record_event(uow, self._ids, EventType.PAYMENT_LATE_SUCCESS, payment, at=now, source=source)
        if payment.status in OPEN:
            await uow.checks.add(PaymentCheck(payment_id=payment.id, next_check_at=now))  # a late hold: follow it
        await uow.commit()
        logger.error(
            "payment_late_success",
            extra={"payment_id": payment.id, "provider": payment.provider, "previous_status": str(previous)},
        )
        return payment


def is_news(payment: Payment, observed: ProviderPayment) -> bool:
    """Whether the provider's answer tells anything the stored payment does not (the cheap test before a lock)."""
    if (observed.outcome, observed.provider_status) != (payment.status, payment.provider_status):
        return True
    if observed.wallet is not None and observed.wallet != payment.wallet:
        return True
    attempt = observed.declined_attempt
    return attempt is not None and payment.error_message != attempt.message
