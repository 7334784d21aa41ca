"""Provider webhooks: a verified notice changes a payment only through the one status-change path.

A redelivered event (same provider event id) changes nothing. A notice without a trusted state
(`observed` None: unsigned webhooks such as YooKassa's) is a hint: the payment is re-fetched from the
provider before anything changes. A trusted snapshot that leaves a detail out (`fetch_details`: a Stripe
event names its Charge only by id, so not the wallet that paid) is applied as it stands, with the
detail from one fetch when the provider answers it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import TypeVar

import attrs

from domain.payment import OPEN, UNSUCCESSFUL, Payment
from domain.seller_route import SellerRoute

from application.errors import PaymentNotFound
from application.ports import Clock, ProviderNotice, ProviderPayment, RefundNotice, UnitOfWorkFactory
from application.provenance import webhook
from application.sync_refund_status import SyncRefundStatus
from application.sync_status import SyncPaymentStatus

_T = TypeVar("_T")
# What a trusted snapshot can still change (settle, or a late success): where its details are worth asking for.
CHANGEABLE = OPEN | UNSUCCESSFUL


class NoticeResult(enum.StrEnum):
    APPLIED = "applied"  # the payment was brought up to date (it may not have changed)
    DUPLICATE = "duplicate"  # this event was handled before
    UNKNOWN_PAYMENT = "unknown_payment"  # not one of ours (or not yet stored): acknowledged, ignored
    UNKNOWN_REFUND = "unknown_refund"  # a refund not made through us (or its id not known yet): ignored


class HandleProviderNotice:
    def __init__(
        self, *, uow: UnitOfWorkFactory, sync: SyncPaymentStatus, refunds: SyncRefundStatus, clock: Clock
    ) -> None:
        self._uow = uow
        self._sync = sync
        self._refunds = refunds
        self._clock = clock

    async def execute(self, notice: ProviderNotice | RefundNotice) -> NoticeResult:
        if isinstance(notice, RefundNotice):
            return await self._refund(notice)
        async with self._uow() as uow:
            payment = await uow.payments.get_by_external_id(notice.provider, notice.external_id)
        if payment is None:
            return NoticeResult.UNKNOWN_PAYMENT
        if notice.event_id is not None and await self._seen(notice):
            return NoticeResult.DUPLICATE
        await self._bring_up_to_date(payment, notice)
        await self._remember(notice)
        return NoticeResult.APPLIED

    async def _refund(self, notice: RefundNotice) -> NoticeResult:
        """A refund's news goes through the one refund-status path; a hint is checked with the provider first."""
        async with self._uow() as uow:
            refund = await uow.refunds.get_by_provider_id(notice.provider, notice.external_id)
            if refund is None and notice.refund_id is not None:
                refund = await uow.refunds.get(notice.refund_id)
            payment = await uow.payments.get(refund.payment_id) if refund is not None else None
        if refund is None or payment is None or payment.provider != notice.provider:
            return NoticeResult.UNKNOWN_REFUND
        if refund.external_id not in (None, notice.external_id):
            return NoticeResult.UNKNOWN_REFUND  # our id echoed on another provider refund: not ours to trust
        if notice.event_id is not None and await self._seen(notice):
            return NoticeResult.DUPLICATE
        source = webhook(notice.provider)
        if notice.observed is None:
            await self._refunds.refresh(refund, payment, actor=source, source=source)
        else:
            await self._refunds.apply(refund.id, notice.observed, actor=source, source=source)
        await self._remember(notice)
        return NoticeResult.APPLIED

    async def _remember(self, notice: ProviderNotice | RefundNotice) -> None:
        # Recorded only once applied: a crash in between means a redelivery applies it again, which
        # the compare-and-set makes harmless, where recording first could lose the change.
        if notice.event_id is not None:
            async with self._uow() as uow:
                await uow.provider_events.first_time(notice.provider, notice.event_id, self._clock.now())
                await uow.commit()

    async def signing_routes(self, provider: str, signed_by: Callable[[SellerRoute], bool]) -> Sequence[SellerRoute]:
        """The provider's routes whose secret signed a notice, found before anything the notice names is
        looked up: an unsigned notice learns nothing (not even whether its payment exists)."""
        async with self._uow() as uow:
            routes = await uow.routes.list(provider=provider)
        return [route for route in routes if signed_by(route)]

    async def answer_under_lock(self, payment_id: str, answer: Callable[[Payment], _T]) -> _T:
        """A provider's question about a payment (may I take this money?) answered while its row is locked,
        so no status change can slip in between the answer and the state it was drawn from."""
        async with self._uow() as uow:
            payment = await uow.payments.get(payment_id, for_update=True)
            if payment is None:
                raise PaymentNotFound(payment_id)
            result = answer(payment)
            await uow.commit()
        return result

    async def _seen(self, notice: ProviderNotice | RefundNotice) -> bool:
        async with self._uow() as uow:
            return await uow.provider_events.seen(notice.provider, notice.event_id or "")

    async def _bring_up_to_date(self, payment: Payment, notice: ProviderNotice) -> None:
        actor = webhook(notice.provider)
        if notice.observed is None:
            await self._sync.refresh(payment, actor=actor)
            return
        observed = notice.observed
        if notice.fetch_details and payment.wallet is None and payment.status in CHANGEABLE:
            observed = await self._with_details(payment, observed, actor=actor)
        await self._sync.apply(payment.id, observed, actor=actor)

    async def _with_details(self, payment: Payment, snapshot: ProviderPayment, *, actor: str) -> ProviderPayment:
        """The snapshot with the details only the provider's own answer tells (the card wallet that paid).

        Asked before the change, outside any transaction, so the details land in the same change. A
        provider that does not answer (audited by `observe`) leaves the snapshot to stand alone: the
        payment is settled all the same, without the details.
        """
        fetched = await self._sync.observe(payment, actor=actor)
        if fetched is None or fetched.external_id != snapshot.external_id or fetched.wallet is None:
            return snapshot
        return attrs.evolve(snapshot, wallet=fetched.wallet)
