"""Provider webhooks: a verified notice changes a payment only through the one status-change path.

A redelivered event (same provider event id) changes nothing. A notice without a trusted state
(`observed` None: unsigned webhooks such as YooKassa's) is a hint: the payment is re-fetched from the
provider before anything changes.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import TypeVar

from domain.payment import Payment
from domain.seller_route import SellerRoute

from application.errors import PaymentNotFound
from application.ports import Clock, ProviderNotice, UnitOfWorkFactory
from application.sync_status import SyncPaymentStatus


_T = TypeVar("_T")


class NoticeResult(enum.StrEnum):
    APPLIED = "applied"  # the payment was brought up to date (it may not have changed)
    DUPLICATE = "duplicate"  # this event was handled before
    UNKNOWN_PAYMENT = "unknown_payment"  # not one of ours (or not yet stored): acknowledged, ignored


class HandleProviderNotice:
    def __init__(self, *, uow: UnitOfWorkFactory, sync: SyncPaymentStatus, clock: Clock) -> None:
        self._uow = uow
        self._sync = sync
        self._clock = clock

    async def execute(self, notice: ProviderNotice) -> NoticeResult:
        async with self._uow() as uow:
            payment = await uow.payments.get_by_external_id(notice.provider, notice.external_id)
        if payment is None:
            return NoticeResult.UNKNOWN_PAYMENT
        if notice.event_id is not None and await self._seen(notice):
            return NoticeResult.DUPLICATE
        await self._bring_up_to_date(payment, notice)
        # Recorded only once applied: a crash in between means a redelivery applies it again, which
        # the compare-and-set makes harmless, where recording first could lose the change.
        if notice.event_id is not None:
            async with self._uow() as uow:
                await uow.provider_events.first_time(notice.provider, notice.event_id, self._clock.now())
                await uow.commit()
        return NoticeResult.APPLIED

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

    async def _seen(self, notice: ProviderNotice) -> bool:
        async with self._uow() as uow:
            return await uow.provider_events.seen(notice.provider, notice.event_id or "")

    async def _bring_up_to_date(self, payment: Payment, notice: ProviderNotice) -> None:
        if notice.observed is None:
            await self._sync.refresh(payment, actor=f"webhook:{notice.provider}")
        else:
            await self._sync.apply(payment.id, notice.observed, actor=f"webhook:{notice.provider}")
