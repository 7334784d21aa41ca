"""A marketplace's payment history: every payment of an order, a customer's payments page by page."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import attrs

from domain.errors import InvalidValue
from domain.payment import Payment
from domain.refund import Refund

from application.payment_requests import MAX_REFERENCE
from application.ports import UnitOfWorkFactory

MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MAX_CURSOR = 64


@attrs.frozen
class PaymentPage:
    """Newest first; `next_cursor` None when there is nothing older."""

    payments: Sequence[Payment]
    next_cursor: str | None


def _check_reference(name: str, value: str) -> str:
    if not (0 < len(value) <= MAX_REFERENCE and value.isprintable()):
        raise InvalidValue(name, f"{name} must be 1 to {MAX_REFERENCE} printable characters")
    return value


class ListPayments:
    """`shops` is the caller's reach (None: every shop): other shops' payments do not exist for it."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def for_order(self, order_id: str, *, shops: Collection[int] | None = None) -> Sequence[Payment]:
        _check_reference("order_id", order_id)
        async with self._uow() as uow:
            return await uow.payments.list_by_order(order_id, shop_ids=shops)

    async def for_customer(
        self,
        customer_id: str,
        *,
        shops: Collection[int] | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> PaymentPage:
        """`cursor` is the last payment id of the previous page (ids are time-ordered)."""
        _check_reference("customer_id", customer_id)
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidValue("limit", f"limit must be between 1 and {MAX_LIMIT}")
        if cursor is not None and not (0 < len(cursor) <= MAX_CURSOR and cursor.isprintable()):
            raise InvalidValue("cursor", "cursor must be the next_cursor of the previous page")
        async with self._uow() as uow:
            # One more than asked: whether an older page exists is known without a second query.
            found = await uow.payments.list_by_customer(customer_id, shop_ids=shops, before_id=cursor, limit=limit + 1)
        page = list(found[:limit])
        return PaymentPage(page, page[-1].id if len(found) > limit else None)

    async def refunds_of(self, payment: Payment) -> Sequence[Refund]:
        async with self._uow() as uow:
            return await uow.refunds.list_for_payment(payment.id)
