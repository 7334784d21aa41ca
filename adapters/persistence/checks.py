"""The poller's checks on SQLAlchemy Core: claimed under a lease, so pollers never share a payment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.polling import PaymentCheck

from adapters.persistence.tables import payment_checks


def _check_from_row(row: Row[Any]) -> PaymentCheck:
    return PaymentCheck(
        payment_id=row.payment_id,
        next_check_at=row.next_check_at,
        attempts=row.attempts,
        leased_until=row.leased_until,
    )


class SqlAlchemyPaymentCheckRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, check: PaymentCheck) -> None:
        # Values as parameters of a constant statement: compiled once, not rebuilt per payment.
        await self._connection.execute(
            insert(payment_checks),
            {
                "payment_id": check.payment_id,
                "next_check_at": check.next_check_at,
                "attempts": check.attempts,
                "leased_until": check.leased_until,
            },
        )

    async def get(self, payment_id: str) -> PaymentCheck | None:
        row = (
            await self._connection.execute(select(payment_checks).where(payment_checks.c.payment_id == payment_id))
        ).one_or_none()
        return None if row is None else _check_from_row(row)

    async def claim_due(
        self, *, due_by: datetime, now: datetime, lease_until: datetime, limit: int
    ) -> Sequence[PaymentCheck]:
        c = payment_checks.c
        due = (
            select(payment_checks)
            .where(c.next_check_at <= due_by, or_(c.leased_until.is_(None), c.leased_until <= now))
            .order_by(c.next_check_at, c.payment_id)
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
            update(payment_checks)
            .where(c.payment_id.in_([row.payment_id for row in rows]))
            .values(leased_until=lease_until)
        )
        return [
            PaymentCheck(payment_id=r.payment_id, next_check_at=r.next_check_at, attempts=r.attempts, leased_until=lease_until)
            for r in rows
        ]

    async def reschedule(self, checks: Sequence[PaymentCheck]) -> None:
        if not checks:
            return
        # One statement, executed for many rows (psycopg pipelines them): a sweep reschedules in bulk.
        await self._connection.execute(
            update(payment_checks)
            .where(payment_checks.c.payment_id == bindparam("check_id"))
            .values(next_check_at=bindparam("check_next"), attempts=bindparam("check_attempts"), leased_until=None),
            [{"check_id": c.payment_id, "check_next": c.next_check_at, "check_attempts": c.attempts} for c in checks],
        )

    async def remove(self, payment_id: str) -> None:
        await self._connection.execute(delete(payment_checks).where(payment_checks.c.payment_id == payment_id))
