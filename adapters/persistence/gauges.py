"""The gauges that live in the database, read at scrape time: pending work and what is stuck."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.payment import LATE_SUCCESS, PaymentStatus

from application.errors import ProviderOutcomeUnknown
from application.sync_status import LOST_ANSWER_AFTER

from adapters.metrics import Reading
from adapters.persistence.outbox import retrying_deliveries
from adapters.persistence.tables import outbox_events, payment_checks, payments, refunds, webhook_deliveries

_PENDING = "pending"
_UNKNOWN = ProviderOutcomeUnknown.code
# A late success needs an operator until it is refunded in full.
_LATE_SUCCESS_WAITING = [
    s.value for s in (PaymentStatus.AUTHORIZED, PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED)
]


class DatabaseGauges:
    """A metrics sampler: a handful of aggregate queries in one short read-only connection."""

    def __init__(
        self, engine: AsyncEngine, *, provider_names: Callable[[], Iterable[str]], now: Callable[[], datetime]
    ) -> None:
        self._engine = engine
        self._provider_names = provider_names
        self._now = now

    async def sample(self) -> list[Reading]:
        now = self._now()
        async with self._engine.connect() as connection:
            return [
                *await self._payments(connection, now),
                *await self._late_successes(connection),
                *await self._refunds(connection),
                *await self._poller(connection, now),
                *await self._outbox(connection, now),
                *await self._webhooks(connection),
            ]

    async def _payments(self, connection: AsyncConnection, now: datetime) -> list[Reading]:
        # No provider id: a create that timed out, or whose gateway died before recording the answer
        # (counted once it cannot be in flight any more, even before status sync flagged it).
        answer_lost = and_(
            payments.c.external_id.is_(None),
            or_(payments.c.error_code == _UNKNOWN, payments.c.created_at < now - LOST_ANSWER_AFTER),
        )
        unknown = func.sum(case((answer_lost, 1), else_=0))
        rows = await connection.execute(
            select(payments.c.provider, func.count(), unknown)
            .where(payments.c.status == _PENDING)
            .group_by(payments.c.provider)
        )
        counts = {row[0]: (row[1], row[2] or 0) for row in rows}
        readings = []
        # Every configured provider reports, with 0 when nothing waits: an absent series alerts nobody.
        for provider in sorted({*self._provider_names(), *counts}):
            pending, unanswered = counts.get(provider, (0, 0))
            readings.append(Reading("paygate_payments_pending", pending, {"provider": provider}))
            readings.append(Reading("paygate_payments_outcome_unknown", unanswered, {"provider": provider}))
        return readings

    async def _late_successes(self, connection: AsyncConnection) -> list[Reading]:
        waiting = await connection.scalar(
            select(func.count()).where(
                payments.c.error_code == LATE_SUCCESS, payments.c.status.in_(_LATE_SUCCESS_WAITING)
            )
        )
        return [Reading("paygate_payments_late_success", waiting or 0)]

    async def _refunds(self, connection: AsyncConnection) -> list[Reading]:
        lost = await connection.scalar(
            select(func.count()).where(refunds.c.status == _PENDING, refunds.c.error_code == _UNKNOWN)
        )
        return [Reading("paygate_refunds_outcome_unknown", lost or 0)]

    async def _poller(self, connection: AsyncConnection, now: datetime) -> list[Reading]:
        oldest_due = await connection.scalar(
            select(func.min(payment_checks.c.next_check_at)).where(payment_checks.c.next_check_at <= now)
        )
        return [Reading("paygate_poller_lag_seconds", _age(oldest_due, now))]

    async def _outbox(self, connection: AsyncConnection, now: datetime) -> list[Reading]:
        row = (
            await connection.execute(
                select(func.count(), func.min(outbox_events.c.occurred_at)).where(
                    outbox_events.c.fanned_out_at.is_(None)
                )
            )
        ).one()
        return [
            Reading("paygate_outbox_backlog", row[0]),
            Reading("paygate_outbox_oldest_event_age_seconds", _age(row[1], now)),
        ]

    async def _webhooks(self, connection: AsyncConnection) -> list[Reading]:
        c = webhook_deliveries.c
        failing = func.sum(case((retrying_deliveries(), 1), else_=0))
        dead = func.sum(case((c.status == "dead", 1), else_=0))
        row = (await connection.execute(select(failing, dead))).one()
        return [
            Reading("paygate_webhook_deliveries_retrying", row[0] or 0),
            Reading("paygate_webhook_deliveries_dead_lettered", row[1] or 0),
        ]


def _age(moment: datetime | None, now: datetime) -> float:
    return max(0.0, (now - moment).total_seconds()) if moment is not None else 0.0
