"""Payment reads on PostgreSQL: one SELECT in autocommit on psycopg's pool, no transaction.

Through SQLAlchemy a read is a pool checkout (about 0.18 ms of CPU), BEGIN, the SELECT and a
ROLLBACK; here it is a 0.02 ms checkout and one round trip. A single statement sees one snapshot,
which is all a read of one row needs.

Reads are grouped as the create's writes are (`batching.WriteBatcher`): those of one kind (by id,
by the provider's id: every legacy status read, by idempotency key) that arrive while one is in
flight share the next statement, each still seeing everything committed before it asked. Alone, a
read goes out at once.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import psycopg

from domain.payment import Payment

from application.payment_lookup import TransactionalPaymentLookup
from application.ports import PaymentLookup, UnitOfWorkFactory

from adapters.persistence.batching import WriteBatcher
from adapters.persistence.database import AutocommitPool, storage_errors
from adapters.persistence.repositories import payment_from_row
from adapters.persistence.tables import column_names, payments

_COLUMNS = column_names(payments)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM payments"
_MAX_BATCH = 64
_FLUSHES = 2  # statements in flight, as for the create's writes (creation_journal.py)


@attrs.frozen
class _Way:
    """One way to find payments: the statement for one key, and for any number of keys as arrays
    (one per column: every batch is the same prepared statement), and a row's key."""

    one: str
    many: str
    key: Callable[[Any], tuple[str, ...]]


_BY_ID = _Way(
    one=f"{_SELECT} WHERE id = %s",
    many=f"{_SELECT} WHERE id = ANY(%s::text[])",
    key=lambda row: (row.id,),
)
_BY_EXTERNAL_ID = _Way(
    one=f"{_SELECT} WHERE provider = %s AND external_id = %s",
    many=f"{_SELECT} WHERE (provider, external_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
    key=lambda row: (row.provider, row.external_id),
)
_BY_IDEMPOTENCY_KEY = _Way(
    one=f"{_SELECT} WHERE idempotency_key = %s",
    many=f"{_SELECT} WHERE idempotency_key = ANY(%s::text[])",
    key=lambda row: (row.idempotency_key,),
)


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
        self._by_id = self._batched(_BY_ID)
        self._by_external_id = self._batched(_BY_EXTERNAL_ID)
        self._by_idempotency_key = self._batched(_BY_IDEMPOTENCY_KEY)

    async def get(self, payment_id: str) -> Payment | None:
        return await self._by_id.write((payment_id,))

    async def by_external_id(self, provider: str, external_id: str) -> Payment | None:
        return await self._by_external_id.write((provider, external_id))

    async def by_idempotency_key(self, key: str) -> Payment | None:
        return await self._by_idempotency_key.write((key,))

    def _batched(self, way: _Way) -> WriteBatcher[tuple[str, ...], Payment | None]:
        return WriteBatcher(functools.partial(self._read, way), max_batch=_MAX_BATCH, flushes=_FLUSHES)

    async def _read(self, way: _Way, wanted: Sequence[tuple[str, ...]]) -> list[Payment | None]:
        async with storage_errors(), self._pool.connection() as connection:
            cursor = connection.cursor(row_factory=_payment_rows)
            if len(wanted) == 1:
                row: Any = await (await cursor.execute(way.one, wanted[0])).fetchone()
                return [None if row is None else payment_from_row(row)]
            await cursor.execute(way.many, [list(column) for column in zip(*wanted, strict=True)])
            rows = {way.key(row): row for row in await cursor.fetchall()}
        # A payment of its own for each caller, even two asking for the same one: they may change it.
        return [payment_from_row(rows[key]) if key in rows else None for key in wanted]
