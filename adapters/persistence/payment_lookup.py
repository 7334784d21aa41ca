"""Payment reads on PostgreSQL: one SELECT in autocommit on psycopg's pool, no transaction.

Through SQLAlchemy a read is a pool checkout (about 0.18 ms of CPU), BEGIN, the SELECT and a
ROLLBACK; here it is a 0.02 ms checkout and one round trip. A single statement sees one snapshot,
which is all a read of one row needs.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from typing import Any

import psycopg

from domain.payment import Payment

from application.payment_lookup import TransactionalPaymentLookup
from application.ports import PaymentLookup, UnitOfWorkFactory

from adapters.persistence.database import AutocommitPool, storage_errors
from adapters.persistence.repositories import payment_from_row
from adapters.persistence.tables import column_names, payments

_COLUMNS = column_names(payments)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM payments"
_BY_ID = f"{_SELECT} WHERE id = %s"
_BY_EXTERNAL_ID = f"{_SELECT} WHERE provider = %s AND external_id = %s"
_BY_IDEMPOTENCY_KEY = f"{_SELECT} WHERE idempotency_key = %s"


def _named_rows(names: Sequence[str]) -> Callable[[Sequence[Any]], Any]:
    """Rows as named tuples of `names`, read by attribute as `payment_from_row` reads them."""
    named_tuple = collections.namedtuple  # by another name: mypy takes only literal field lists
    row: Any = named_tuple("PaymentRow", names)
    make: Callable[[Sequence[Any]], Any] = row._make
    return make


# One class for good: psycopg's `namedtuple_row` reads the result's description again on every
# statement, more than the mapping itself costs (docs/performance.md).
_MAKE_ROW = _named_rows(_COLUMNS)


def _payment_rows(_cursor: psycopg.AsyncCursor[Any]) -> Callable[[Sequence[Any]], Any]:
    return _MAKE_ROW


def lookup_for(pool: AutocommitPool | None, uow: UnitOfWorkFactory) -> PaymentLookup:
    """One statement per read where there is an autocommit pool (PostgreSQL); else a transaction."""
    if pool is not None:
        return PostgresPaymentLookup(pool)
    return TransactionalPaymentLookup(uow)


class PostgresPaymentLookup:
    def __init__(self, pool: AutocommitPool) -> None:
        self._pool = pool

    async def get(self, payment_id: str) -> Payment | None:
        return await self._one(_BY_ID, (payment_id,))

    async def by_external_id(self, provider: str, external_id: str) -> Payment | None:
        return await self._one(_BY_EXTERNAL_ID, (provider, external_id))

    async def by_idempotency_key(self, key: str) -> Payment | None:
        return await self._one(_BY_IDEMPOTENCY_KEY, (key,))

    async def _one(self, query: str, parameters: tuple[Any, ...]) -> Payment | None:
        async with storage_errors(), self._pool.connection() as connection:
            cursor = connection.cursor(row_factory=_payment_rows)
            row: Any = await (await cursor.execute(query, parameters)).fetchone()
        return None if row is None else payment_from_row(row)
