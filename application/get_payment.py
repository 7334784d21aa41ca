"""Read a payment, refreshing it from the provider while it is pending."""

from __future__ import annotations

from collections.abc import Collection

from domain.payment import Payment

from application.errors import PaymentNotFound
from application.payment_lookup import TransactionalPaymentLookup
from application.ports import PaymentLookup, UnitOfWorkFactory
from application.sync_status import SyncPaymentStatus


class GetPayment:
    def __init__(self, *, uow: UnitOfWorkFactory, sync: SyncPaymentStatus, lookup: PaymentLookup | None = None) -> None:
        self._lookup = lookup or TransactionalPaymentLookup(uow)
        self._sync = sync

    async def by_external_id(
        self, provider: str, external_id: str, *, actor: str | None = None, shops: Collection[int] | None = None
    ) -> Payment:
        """`shops`: the caller's reach (None: every shop); another shop's payment does not exist for it."""
        payment = await self._lookup.by_external_id(provider, external_id)
        if payment is None or (shops is not None and payment.shop_id not in shops):
            raise PaymentNotFound(external_id)
        return await self._sync.refresh(payment, actor=actor)

    async def by_id(
        self, payment_id: str, *, refresh: bool = True, actor: str | None = None, shops: Collection[int] | None = None
    ) -> Payment:
        payment = await self._lookup.get(payment_id)
        if payment is None or (shops is not None and payment.shop_id not in shops):
            raise PaymentNotFound(payment_id)
        return await self._sync.refresh(payment, actor=actor) if refresh else payment
