"""Aggregate reads for the console and the settlement report: each a few queries in one short
read-only connection, never inside a unit of work."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.payment import PaymentStatus
from domain.refund import RefundStatus

from application.errors import ProviderOutcomeUnknown
from application.ports import Attention, OutcomeCount, SettledAmount

from adapters.persistence.tables import payment_checks, payments, refunds, webhook_deliveries

_PENDING = PaymentStatus.PENDING.value
_UNKNOWN = ProviderOutcomeUnknown.code
# The statuses of a payment whose money was taken (whatever was refunded since).
PAID = [s.value for s in (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)]


def _settled(row: Any, *, refund: bool) -> SettledAmount:
    shop_id, provider, currency, amount_minor, at = row
    return SettledAmount(shop_id, provider, currency, amount_minor, at, refund=refund)


def _within(query: Select[Any], column: Any, shop_ids: Collection[int] | None) -> Select[Any]:
    return query if shop_ids is None else query.where(column.in_(list(shop_ids)))


class SqlAlchemyReports:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def settled_between(
        self, start: datetime, end: datetime, *, shop_ids: Collection[int] | None
    ) -> Sequence[SettledAmount]:
        p, r = payments.c, refunds.c
        paid = _within(
            select(p.shop_id, p.provider, p.currency, p.amount_minor, p.succeeded_at).where(
                p.status.in_(PAID), p.succeeded_at >= start, p.succeeded_at < end
            ),
            p.shop_id,
            shop_ids,
        )
        refunded_at = func.coalesce(r.status_observed_at, r.updated_at)
        returned = _within(
            select(r.shop_id, p.provider, r.currency, r.amount_minor, refunded_at)
            .join(payments, p.id == r.payment_id)
            .where(r.status == RefundStatus.SUCCEEDED.value, refunded_at >= start, refunded_at < end),
            r.shop_id,
            shop_ids,
        )
        async with self._engine.connect() as connection:
            found = [_settled(row, refund=False) for row in await connection.execute(paid)]
            found += [_settled(row, refund=True) for row in await connection.execute(returned)]
        return found

    async def attention(self, *, now: datetime, shop_ids: Collection[int] | None) -> Attention:
        p, r = payments.c, refunds.c
        async with self._engine.connect() as connection:
            unknown_payments = select(func.count()).where(p.status == _PENDING, p.error_code == _UNKNOWN)
            unknown = await _count(connection, _within(unknown_payments, p.shop_id, shop_ids))
            unknown_refunds = select(func.count()).where(r.status == _PENDING, r.error_code == _UNKNOWN)
            lost_refunds = await _count(connection, _within(unknown_refunds, r.shop_id, shop_ids))
            overdue_payments = select(func.count()).where(p.status == _PENDING, p.expires_at < now)
            overdue = await _count(connection, _within(overdue_payments, p.shop_id, shop_ids))
            dead = await _count(connection, select(func.count()).where(webhook_deliveries.c.status == "dead"))
            oldest_due = await connection.scalar(
                select(func.min(payment_checks.c.next_check_at)).where(payment_checks.c.next_check_at <= now)
            )
        lag = max(0.0, (now - oldest_due).total_seconds()) if oldest_due is not None else 0.0
        return Attention(unknown, lost_refunds, overdue, dead, lag)

    async def outcomes_since(self, since: datetime, *, shop_ids: Collection[int] | None) -> Sequence[OutcomeCount]:
        p = payments.c
        query = _within(
            select(p.shop_id, p.provider, p.status, func.count())
            .where(p.created_at >= since)
            .group_by(p.shop_id, p.provider, p.status),
            p.shop_id,
            shop_ids,
        )
        async with self._engine.connect() as connection:
            return [OutcomeCount(*row) for row in await connection.execute(query)]


async def _count(connection: AsyncConnection, query: Select[Any]) -> int:
    return int(await connection.scalar(query) or 0)
