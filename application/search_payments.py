"""Find payments the way an operator asks: by any id they hold, narrowed by shop, provider, status
and dates, newest first, a page at a time or all of it for an export."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from domain.errors import InvalidValue
from domain.payment import Payment, PaymentStatus

from application.list_payments import MAX_CURSOR, PaymentPage
from application.payment_requests import MAX_REFERENCE
from application.ports import PaymentSearch, UnitOfWorkFactory

PAGE_SIZE = 50
# An export is a file an operator opens in a spreadsheet: bounded, so one click cannot read the table.
MAX_EXPORT = 10_000


def check_search(search: PaymentSearch) -> PaymentSearch:
    if search.text is not None and not (0 < len(search.text) <= MAX_REFERENCE and search.text.isprintable()):
        raise InvalidValue("q", f"search for an id of 1 to {MAX_REFERENCE} printable characters")
    if search.status is not None and search.status not in {s.value for s in PaymentStatus}:
        raise InvalidValue("status", f"status must be one of {', '.join(s.value for s in PaymentStatus)}")
    cursor = search.before_id
    if cursor is not None and not (0 < len(cursor) <= MAX_CURSOR and cursor.isprintable()):
        raise InvalidValue("cursor", "cursor must be the one the previous page gave")
    return search


class SearchPayments:
    """`shops` is the caller's reach (None: every shop): other shops' payments do not exist for it."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def page(
        self, search: PaymentSearch, *, shops: Collection[int] | None, limit: int = PAGE_SIZE
    ) -> PaymentPage:
        check_search(search)
        async with self._uow() as uow:
            # One more than asked: whether an older page exists is known without a second query.
            found = await uow.payments.search(search, shop_ids=shops, limit=limit + 1)
        page = list(found[:limit])
        return PaymentPage(page, page[-1].id if len(found) > limit else None)

    async def export(self, search: PaymentSearch, *, shops: Collection[int] | None) -> Sequence[Payment]:
        check_search(search)
        async with self._uow() as uow:
            return await uow.payments.search(search, shop_ids=shops, limit=MAX_EXPORT)
