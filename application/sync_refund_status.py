"""The one path for every refund status change: the refund call's answer, the poller, webhooks, operators.

A refund is `pending` until the provider's final word: while pending, its amount stays reserved on
the payment. `succeeded` moves the reservation into the payment's refunded sum, `failed` gives it
back. Each change locks the payment row (then the refund's), so concurrent reports of the same
refund settle it once: the loser finds it settled and records nothing. Every change has one audit
entry and, when final, one event (`refund.succeeded` / `refund.failed`) carrying its source.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import attrs

from domain.audit import AuditEntry, Outcome
from domain.events import EventType
from domain.payment import Payment
from domain.polling import REFUND_POLL_SCHEDULE, PollSchedule, RefundCheck
from domain.refund import Refund, RefundStatus

from application.audit import AuditRecorder, payment_entry
from application.errors import ConcurrentUpdate, ProviderDeclined, ProviderUnavailable, RefundNotFound
from application.events import record_event
from application.ports import (
    Capability,
    Clock,
    IdGenerator,
    ProviderRefund,
    RefundLookup,
    RouteStore,
    UnitOfWork,
    UnitOfWorkFactory,
)
from application.providers import ProviderDirectory

OPERATION = "refund"
REVERSAL = "refund_reversed"
logger = logging.getLogger("paygate.refunds")
CHECK = "refund_status"
MISSING = "refund_not_found"
MISSING_REASON = "the provider has no such refund: nothing was refunded"
# A refund whose create answer was lost is not looked up while that call could still be running
# (provider calls time out in seconds): a lookup then could miss a refund about to exist.
IN_FLIGHT_FOR = timedelta(minutes=2)


@attrs.frozen
class RefundChange:
    """The refund and its payment after a status change was applied (or found already applied)."""

    payment: Payment
    refund: Refund
    changed: bool


class SyncRefundStatus:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        routes: RouteStore,
        providers: ProviderDirectory,
        audit: AuditRecorder,
        clock: Clock,
        ids: IdGenerator,
        schedule: PollSchedule = REFUND_POLL_SCHEDULE,
        in_flight_for: timedelta = IN_FLIGHT_FOR,
    ) -> None:
        self._uow = uow
        self._routes = routes
        self._providers = providers
        self._audit = audit
        self._clock = clock
        self._ids = ids
        self._schedule = schedule
        self._in_flight_for = in_flight_for

    def can_look_up(self, provider: str) -> bool:
        return self._providers.get(provider).profile.supports(Capability.REFUND_LOOKUP)

    def first_check(self, refund: Refund) -> RefundCheck:
        """The poller's first check of a refund just reserved (added in the reservation's transaction)."""
        at = refund.created_at
        return RefundCheck(refund.id, next_check_at=self._schedule.next_check(created_at=at, expires_at=None, now=at))

    def next_check(self, check: RefundCheck, refund: Refund) -> RefundCheck:
        now = self._clock.now()
        return RefundCheck(
            refund.id,
            next_check_at=self._schedule.next_check(created_at=refund.created_at, expires_at=None, now=now),
            attempts=check.attempts + 1,
        )

    async def observe(self, refund: Refund, payment: Payment, *, actor: str) -> ProviderRefund | None:
        """The provider's view of an open refund; None when there is none to act on (errors audited).

        A refund the provider verifiably does not have comes back `failed`: no money moved.
        """
        if not refund.is_open or payment.external_id is None or not self.can_look_up(payment.provider):
            return None
        now = self._clock.now()
        if refund.external_id is None and now - refund.created_at < self._in_flight_for:
            return None
        route = await self._routes.get(payment.shop_id, payment.provider)
        if route is None:
            return None
        lookup = RefundLookup(
            refund_id=refund.id,
            idempotency_key=refund.id,
            route=route,
            payment_external_id=payment.external_id,
            merchant_account=payment.merchant_account,
            amount=refund.amount,
            created_at=refund.created_at,
            asked_at=now,
            external_id=refund.external_id,
        )
        try:
            found = await self._providers.get(payment.provider).fetch_refund(lookup)
        except (ProviderUnavailable, ProviderDeclined) as error:
            await self._audit.refusal(
                CHECK, error, shop_id=payment.shop_id, provider=payment.provider, amount=refund.amount,
                external_id=refund.external_id, payment_id=payment.id,
                organization_bin=payment.merchant_account, actor=actor,
            )
            return None
        if found is None:
            return ProviderRefund(
                external_id=None, status=RefundStatus.FAILED, failure_code=MISSING, failure_reason=MISSING_REASON
            )
        return found

    async def refresh(self, refund: Refund, payment: Payment, *, actor: str, source: str) -> RefundChange | None:
        observed = await self.observe(refund, payment, actor=actor)
        if observed is None:
            return None
        return await self.apply(refund.id, observed, actor=actor, source=source)

    async def apply(
        self, refund_id: str, observed: ProviderRefund, *, actor: str | None, source: str
    ) -> RefundChange:
        """Apply the provider's view of a refund under the payment's row lock."""
        now = self._clock.now()
        async with self._uow() as uow:
            found = await uow.refunds.get(refund_id)
            if found is None:
                raise RefundNotFound(refund_id)
            # The payment first, as the reservation does: one lock order, no deadlock.
            payment = await uow.payments.get(found.payment_id, for_update=True)
            refund = await uow.refunds.get(refund_id, for_update=True)
            assert payment is not None and refund is not None
            if not refund.is_open:
                if refund.status is RefundStatus.SUCCEEDED and observed.status is RefundStatus.FAILED:
                    await _flag_reversal(uow, payment, refund, observed, actor=actor, source=source, now=now)
                return RefundChange(payment, refund, changed=False)  # settled already: nothing to record
            change = await self._apply(uow, payment, refund, observed, actor=actor, source=source, now=now)
            if change:
                await uow.commit()
        return RefundChange(payment, refund, changed=change)

    async def _apply(
        self,
        uow: UnitOfWork,
        payment: Payment,
        refund: Refund,
        observed: ProviderRefund,
        *,
        actor: str | None,
        source: str,
        now: datetime,
    ) -> bool:
        expected = payment.version

        def entry(outcome: Outcome, error: str | None = None) -> AuditEntry:
            return _entry(OPERATION, payment, refund, outcome, error, actor=actor, source=source, now=now)

        if observed.status is RefundStatus.PENDING:
            learned_id = observed.external_id is not None and observed.external_id != refund.external_id
            if not learned_id and refund.error_code is None:
                return False  # still pending, nothing new
            refund.note_pending(observed.external_id, now, source)
            await uow.refunds.update(refund)
            await uow.audit.append(entry(Outcome.PENDING, _pending(observed)))
            return True
        if observed.status is RefundStatus.SUCCEEDED:
            payment.complete_refund(refund.amount, now)
            payment.note_source(source, now)
            refund.succeed(observed.external_id, now, source)
            audit = entry(Outcome.SUCCESS)
            event = EventType.REFUND_SUCCEEDED
        else:
            payment.release_refund(refund.amount, now)
            code = observed.failure_code or "refund_failed"
            reported = observed.provider_status or "failed"
            reason = observed.failure_reason or f"the provider reports the refund {reported}"
            refund.fail(code, reason, now, source)
            if observed.external_id is not None:
                refund.external_id = observed.external_id
            audit = entry(Outcome.ERROR, f"refund failed: {reason}")
            event = EventType.REFUND_FAILED
        await uow.refunds.update(refund)
        if not await uow.payments.update(payment, expected):
            raise ConcurrentUpdate(payment.id)
        await uow.audit.append(audit)
        await record_event(uow, self._ids, event, payment, at=now, refund=refund, source=source)
        await uow.refund_checks.remove(refund.id)  # final: nothing left to poll for
        return True


def _pending(observed: ProviderRefund) -> str:
    status = observed.provider_status or "pending"
    return f"the provider holds the refund as {status}; its final word is awaited"


def _entry(
    operation: str,
    payment: Payment,
    refund: Refund,
    outcome: Outcome,
    error: str | None,
    *,
    actor: str | None,
    source: str,
    now: datetime,
) -> AuditEntry:
    return payment_entry(
        operation,
        payment,
        outcome,
        at=now,
        amount=refund.amount,
        error=error,
        actor=actor,
        source=source,
        observed_at=now,
        refund_id=refund.id,
    )


async def _flag_reversal(
    uow: UnitOfWork,
    payment: Payment,
    refund: Refund,
    observed: ProviderRefund,
    *,
    actor: str | None,
    source: str,
    now: datetime,
) -> None:
    """Stripe can fail a refund after it succeeded (the bank returned it): the money is back in the
    merchant's balance, not with the customer. A succeeded refund is never undone here; the
    contradiction goes to the audit log and the log, for an operator to act on."""
    reason = observed.failure_reason or "no reason given"
    logger.warning(
        "refund_failed_after_success",
        extra={"refund_id": refund.id, "payment_id": payment.id, "source": source, "reason": reason},
    )
    error = f"needs attention: the provider reports this succeeded refund failed ({reason})"
    await uow.audit.append(_entry(REVERSAL, payment, refund, Outcome.ERROR, error, actor=actor, source=source, now=now))
    await uow.commit()
