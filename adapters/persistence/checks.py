"""The poller's checks on SQLAlchemy Core: claimed under a lease, so pollers never share a payment or refund."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, Row, Table, bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.polling import PaymentCheck, RefundCheck

from adapters.persistence.tables import payment_checks, refund_checks

_Check = TypeVar("_Check", PaymentCheck, RefundCheck)


class _LeasedChecks(Generic[_Check]):
    """One check per open object (`key` names it), due at `next_check_at`, leased while being asked."""

    def __init__(
        self, connection: AsyncConnection, table: Table, key: str, build: Callable[..., _Check]
    ) -> None:
        self._connection = connection
        self._table = table
        self._key: Column[Any] = table.c[key]
        self._key_name = key
        self._build: Callable[..., _Check] = build

    def _from_row(self, row: Row[Any], **changes: Any) -> _Check:
        values = {
            self._key_name: getattr(row, self._key_name),
            "next_check_at": row.next_check_at,
            "attempts": row.attempts,
            "leased_until": row.leased_until,
        }
        return self._build(**(values | changes))

    async def add(self, check: _Check) -> None:
        # Values as parameters of a constant statement: compiled once, not rebuilt per payment.
        await self._connection.execute(
            insert(self._table),
            {
                self._key_name: getattr(check, self._key_name),
                "next_check_at": check.next_check_at,
                "attempts": check.attempts,
                "leased_until": check.leased_until,
            },
        )

    async def get(self, key: str) -> _Check | None:
        row = (await self._connection.execute(select(self._table).where(self._key == key))).one_or_none()
        return None if row is None else self._from_row(row)

    async def claim_due(
        self, *, due_by: datetime, now: datetime, lease_until: datetime, limit: int
    ) -> Sequence[_Check]:
        c = self._table.c
        due = (
            select(self._table)
            .where(c.next_check_at <= due_by, or_(c.leased_until.is_(None), c.leased_until <= now))
            .order_by(c.next_check_at, self._key)
            .limit(limit)
            # PostgreSQL: rows another poller is claiming right now are skipped, not waited for; a row it
            # claimed and committed meanwhile is re-checked against its new lease. SQLite has no row
            # locks (SQLAlchemy leaves the clause out): BEGIN IMMEDIATE serialises claims instead.
            .with_for_update(skip_locked=True)
        )
        rows = (await self._connection.execute(due)).all()
        if not rows:
            return []
        await self._connection.execute(
            update(self._table)
            .where(self._key.in_([getattr(row, self._key_name) for row in rows]))
            .values(leased_until=lease_until)
        )
        return [self._from_row(row, leased_until=lease_until) for row in rows]

    async def reschedule(self, checks: Sequence[_Check]) -> None:
        if not checks:
            return
        # One statement, executed for many rows (psycopg pipelines them): a sweep reschedules in bulk.
        await self._connection.execute(
            update(self._table)
            .where(self._key == bindparam("check_id"))
            .values(next_check_at=bindparam("check_next"), attempts=bindparam("check_attempts"), leased_until=None),
            [
                {"check_id": getattr(c, self._key_name), "check_next": c.next_check_at, "check_attempts": c.attempts}
                for c in checks
            ],
        )

    async def remove(self, key: str) -> None:
        await self._connection.execute(delete(self._table).where(self._key == key))


class SqlAlchemyPaymentCheckRepository(_LeasedChecks[PaymentCheck]):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__(connection, payment_checks, "payment_id", PaymentCheck)


class SqlAlchemyRefundCheckRepository(_LeasedChecks[RefundCheck]):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__(connection, refund_checks, "refund_id", RefundCheck)
