"""Refund a paid payment, fully or in part, as many times as the paid amount allows.

The refund is reserved against the payment under a row lock before the provider is called, so
concurrent refunds can never add up to more than was paid. The provider's answer goes through the
one refund-status path (`SyncRefundStatus`): `succeeded` or `failed` settle it, `pending` keeps the
reservation until the provider's final word (the poller or a webhook). An unknown outcome keeps the
reservation too: the money may have gone back, and giving it out again could refund it twice.
"""

from __future__ import annotations

import attrs

from domain.audit import Outcome
from domain.errors import DomainError
from domain.money import Money
from domain.payment import Payment, PaymentStatus
from domain.refund import Refund, RefundStatus

from application.audit import AuditRecorder, payment_entry
from application.create_payment import UNKNOWN_OUTCOME
from application.errors import (
    ApplicationError,
    ConcurrentUpdate,
    DuplicateIdempotencyKey,
    OperationInProgress,
    PaymentDeclined,
    PaymentNotFound,
    ProviderDeclined,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
)
from application.ports import Clock, IdGenerator, ProviderRefund, RefundRequest, RouteStore, UnitOfWorkFactory
from application.provenance import source_of
from application.providers import ProviderDirectory
from application.routing import active_route
from application.sync_refund_status import SyncRefundStatus
from application.sync_status import SyncPaymentStatus

OPERATION = "refund"
MAX_REASON = 500


@attrs.frozen
class RefundCommand:
    """`amount` None refunds everything still refundable."""

    shop_id: int
    provider: str
    external_id: str | None = None
    payment_id: str | None = None
    amount: Money | None = None
    idempotency_key: str | None = None
    actor: str | None = None
    reason: str | None = None  # why, in the operator's words: stored on the refund and audited


@attrs.frozen
class RefundResult:
    payment: Payment
    refund: Refund


class RefundPayment:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        routes: RouteStore,
        providers: ProviderDirectory,
        sync: SyncPaymentStatus,
        refunds: SyncRefundStatus,
        audit: AuditRecorder,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self._uow = uow
        self._routes = routes
        self._providers = providers
        self._sync = sync
        self._refunds = refunds
        self._audit = audit
        self._clock = clock
        self._ids = ids

    async def execute(self, command: RefundCommand) -> RefundResult:
        payment: Payment | None = None
        earlier: tuple[Payment, Refund] | None = None
        try:
            payment = await self._owned_payment(command)
            route = await active_route(self._routes, command.shop_id, payment.provider)
            # Resolved before anything is reserved: a reservation must never wait on a provider
            # that cannot be asked.
            provider = self._providers.get(payment.provider)
            if payment.status is PaymentStatus.PENDING:
                # The customer may have paid since we last looked.
                payment = await self._sync.refresh(payment, actor=command.actor)
            earlier = await self._earlier(command, payment)
            if earlier is None:
                try:
                    refund = await self._reserve(payment, command)
                except DuplicateIdempotencyKey:
                    # A concurrent request with the same key reserved first: answer as it will.
                    earlier = await self._earlier(command, payment)
                    assert earlier is not None
        except (ApplicationError, DomainError) as refusal:
            await self._audit.refusal(
                OPERATION, refusal, shop_id=command.shop_id, provider=command.provider,
                amount=command.amount, external_id=command.external_id,
                payment_id=payment.id if payment else command.payment_id,
                organization_bin=payment.merchant_account if payment else None, actor=command.actor,
            )
            raise
        if earlier is not None:
            # Outside the refusal handler: a replayed decline or unknown outcome is the first
            # attempt's answer, not a new failed refund to audit.
            return _replay(*earlier)
        request = RefundRequest(
            refund_id=refund.id,
            idempotency_key=refund.id,
            route=route,
            external_id=payment.external_id or "",
            merchant_account=payment.merchant_account,
            amount=refund.amount,
        )
        try:
            answer = await provider.refund(request)
        except ProviderDeclined as declined:
            await self._settle(refund, command.actor, declined=declined)
            raise PaymentDeclined(refund.id, declined.code, declined.message) from None
        except ProviderUnavailable as unknown:
            await self._settle(refund, command.actor, unknown=unknown)
            raise ProviderOutcomeUnknown(refund.id, unknown.reason, unknown.timed_out) from None
        result = await self._settle(refund, command.actor, answer=answer)
        if result.refund.status is RefundStatus.FAILED:
            # Taken, then refused at once (Stripe's `failed`/`canceled`): a decline like any other.
            raise PaymentDeclined(refund.id, result.refund.error_code or "", result.refund.error_message or "")
        return result

    async def _owned_payment(self, command: RefundCommand) -> Payment:
        """The refunding shop must own the payment; another shop's payment does not exist for it."""
        reference = command.external_id or command.payment_id or ""
        async with self._uow() as uow:
            if command.external_id is not None:
                payment = await uow.payments.get_by_external_id(command.provider, command.external_id)
            else:
                payment = await uow.payments.get(reference)
        if payment is None or payment.shop_id != command.shop_id:
            raise PaymentNotFound(reference)
        return payment

    async def _earlier(self, command: RefundCommand, payment: Payment) -> tuple[Payment, Refund] | None:
        """The refund stored earlier under this request's idempotency key, if any.

        Keys are unique across all shops and payments, so a key is honoured only for the same refund
        of the same payment: anything else must neither see that refund nor be answered with it.
        """
        if command.idempotency_key is None:
            return None
        async with self._uow() as uow:
            refund = await uow.refunds.get_by_idempotency_key(command.idempotency_key)
            if refund is None:
                return None
            stored = await uow.payments.get(refund.payment_id)
        same_amount = command.amount is None or command.amount == refund.amount
        if refund.shop_id != command.shop_id or refund.payment_id != payment.id or not same_amount:
            raise DuplicateIdempotencyKey(command.idempotency_key)
        assert stored is not None
        return stored, refund

    async def _reserve(self, payment: Payment, command: RefundCommand) -> Refund:
        now = self._clock.now()
        async with self._uow() as uow:
            current = await uow.payments.get(payment.id, for_update=True)
            assert current is not None
            expected = current.version
            amount = command.amount if command.amount is not None else current.refundable
            current.reserve_refund(amount, now)
            refund = Refund(
                id=self._ids.new_id("re"),
                payment_id=current.id,
                shop_id=current.shop_id,
                amount=amount,
                idempotency_key=command.idempotency_key,
                created_at=now,
                updated_at=now,
                reason=command.reason,
            )
            await uow.refunds.add(refund)
            if command.reason:
                await uow.audit.append(
                    attrs.evolve(
                        payment_entry("refund_reason", current, Outcome.SUCCESS, at=now, amount=amount,
                                      actor=command.actor, refund_id=refund.id),
                        reason=command.reason,
                    )
                )
            if self._refunds.can_look_up(current.provider):
                # Followed by the poller from the start: a pending answer, a lost one or a crash
                # mid-call all end in the provider's final word.
                await uow.refund_checks.add(self._refunds.first_check(refund))
            if not await uow.payments.update(current, expected):
                raise ConcurrentUpdate(current.id)
            await uow.commit()
        return refund

    async def _settle(
        self,
        refund: Refund,
        actor: str | None,
        *,
        answer: ProviderRefund | None = None,
        declined: ProviderDeclined | None = None,
        unknown: ProviderUnavailable | None = None,
    ) -> RefundResult:
        """Record the refund call's answer: a definite one through the one refund-status path."""
        if declined is not None:
            answer = ProviderRefund(
                external_id=None,
                status=RefundStatus.FAILED,
                failure_code=declined.code,
                failure_reason=declined.message,
            )
        if answer is not None:
            change = await self._refunds.apply(refund.id, answer, actor=actor, source=source_of(actor))
            return RefundResult(change.payment, change.refund)
        assert unknown is not None
        now = self._clock.now()
        async with self._uow() as uow:
            payment = await uow.payments.get(refund.payment_id, for_update=True)
            assert payment is not None
            # Kept pending with its reservation: the poller (where the provider can be asked) or an
            # operator (`paygate refunds attach`) finds out what happened.
            refund.note_unknown_outcome(UNKNOWN_OUTCOME, unknown.reason, now)
            await uow.refunds.update(refund)
            await uow.audit.append(
                payment_entry(
                    OPERATION,
                    payment,
                    Outcome.PENDING,
                    at=now,
                    amount=refund.amount,
                    error=f"outcome unknown: {unknown.reason}",
                    actor=actor,
                    refund_id=refund.id,
                )
            )
            await uow.commit()
        return RefundResult(payment, refund)


def _replay(payment: Payment, refund: Refund) -> RefundResult:
    if refund.status is RefundStatus.SUCCEEDED:
        return RefundResult(payment, refund)
    if refund.status is RefundStatus.FAILED:
        raise PaymentDeclined(refund.id, refund.error_code or "", refund.error_message or "")
    if refund.error_code == UNKNOWN_OUTCOME:
        raise ProviderOutcomeUnknown(refund.id, refund.error_message or "unknown", timed_out=False)
    if refund.external_id is not None:
        return RefundResult(payment, refund)  # pending at the provider: the same answer again
    raise OperationInProgress(refund.id)
