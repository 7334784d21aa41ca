"""The poller's sweep: ask providers about open payments that are due, through the one status-change path.

Kaspi never calls back, so for it this is how a payment gets settled. A due check is leased in a
short transaction (several pollers never ask about the same payment in one round), the provider is
asked with no transaction open, and the answer goes through `SyncPaymentStatus.apply`. A provider
error is audited and the check rescheduled: an unanswered question never fails a payment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

import attrs

from domain.payment import OPEN, Payment, PaymentStatus
from domain.polling import DEFAULT_POLL_SCHEDULE, PaymentCheck, PollSchedule

from application.ports import Clock, Throttle, UnitOfWork, UnitOfWorkFactory
from application.sync_status import SyncPaymentStatus

ACTOR = "poller"
logger = logging.getLogger("paygate.poller")


@attrs.define
class SweepSummary:
    """What one sweep did; `changed` counts payments this sweep moved, `expired` is part of it."""

    checked: int = 0
    changed: int = 0
    expired: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return attrs.asdict(self)


class PollPayments:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        sync: SyncPaymentStatus,
        clock: Clock,
        schedules: Mapping[str, PollSchedule],
        throttles: Mapping[str, Throttle],
        batch_size: int = 100,
        concurrency: int = 20,
        lease: timedelta = timedelta(minutes=5),
    ) -> None:
        if batch_size < 1 or concurrency < 1:
            raise ValueError("batch_size and concurrency must be at least 1")
        if lease <= timedelta(0):
            raise ValueError("lease must be positive")
        self._uow = uow
        self._sync = sync
        self._clock = clock
        self._schedules = dict(schedules)
        self._throttles = dict(throttles)
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._lease = lease

    async def sweep(self, *, until: asyncio.Event | None = None) -> SweepSummary:
        """Check every payment due when the sweep starts, once; return when all are done.

        Once `until` is set no more checks are claimed; those claimed already are finished.
        """
        sweep = _Sweep()
        due_by = self._clock.now()
        running = asyncio.Semaphore(self._concurrency)
        async with asyncio.TaskGroup() as tasks:
            while not (until is not None and until.is_set()) and (claimed := await self._claim(due_by, sweep)):
                for check, payment in claimed:
                    # The next batch is claimed once this one has started: a lease is never spent
                    # queueing, and checks keep flowing while the batch's slowest ones finish.
                    await running.acquire()
                    tasks.create_task(self._check_and_release(check, payment, sweep, running))
        if sweep.next_checks:
            async with self._uow() as uow:
                await self._write_next_checks(uow, sweep)
                await uow.commit()
        return sweep.summary

    async def _claim(self, due_by: datetime, sweep: _Sweep) -> list[tuple[PaymentCheck, Payment]]:
        now = self._clock.now()
        async with self._uow() as uow:
            # The next checks of the payments done meanwhile ride along: one commit, not one each.
            await self._write_next_checks(uow, sweep)
            checks = await uow.checks.claim_due(
                due_by=due_by, now=now, lease_until=now + self._lease, limit=self._batch_size
            )
            claimed = []
            for check in checks:
                payment = await uow.payments.get(check.payment_id)
                assert payment is not None  # a check's payment is a foreign key
                claimed.append((check, payment))
            await uow.commit()
        return claimed

    async def _write_next_checks(self, uow: UnitOfWork, sweep: _Sweep) -> None:
        # Taken before the first await: a check finishing meanwhile goes with the next write.
        written, sweep.next_checks = sweep.next_checks, []
        for payment_id, (following, attempts) in written:
            if following is None:
                await uow.checks.remove(payment_id)
            else:
                await uow.checks.reschedule(payment_id, next_check_at=following, attempts=attempts)

    async def _check_and_release(
        self, check: PaymentCheck, payment: Payment, sweep: _Sweep, running: asyncio.Semaphore
    ) -> None:
        try:
            await self._check(check, payment, sweep)
        except Exception:  # noqa: BLE001 - one payment's trouble must not stop the sweep; its lease runs out
            sweep.summary.errors += 1
            logger.exception("poller: checking payment %s failed", payment.id)
        finally:
            running.release()

    async def _check(self, check: PaymentCheck, payment: Payment, sweep: _Sweep) -> None:
        summary = sweep.summary
        if payment.status not in OPEN:
            sweep.next_checks.append((payment.id, (None, check.attempts)))  # settled elsewhere meanwhile
            return
        schedule = self._schedules.get(payment.provider, DEFAULT_POLL_SCHEDULE)
        throttle = self._throttles.get(payment.provider)
        if throttle is not None:
            await throttle.wait_turn()
        observed = await self._sync.observe(payment, actor=ACTOR)
        summary.checked += 1
        now = self._clock.now()
        following = schedule.next_check(created_at=payment.created_at, expires_at=payment.expires_at, now=now)
        if observed is None:
            summary.errors += 1
            sweep.next_checks.append((payment.id, (following, check.attempts + 1)))
            return
        if observed.outcome is PaymentStatus.PENDING and schedule.is_past_lifetime(payment.expires_at, now):
            # Still unpaid past its lifetime: nobody is going to pay it.
            observed = attrs.evolve(observed, outcome=PaymentStatus.EXPIRED)
        if (observed.outcome, observed.provider_status) == (payment.status, payment.provider_status):
            # Nothing new since the claim: no change to apply (the usual answer, and the cheap one).
            sweep.next_checks.append((payment.id, (following, check.attempts + 1)))
            return
        updated = await self._sync.apply(payment.id, observed, actor=ACTOR)
        if updated.status is not payment.status:
            summary.changed += 1
            if updated.status is PaymentStatus.EXPIRED:
                summary.expired += 1
        if updated.status in OPEN:
            sweep.next_checks.append((payment.id, (following, check.attempts + 1)))


@attrs.define
class _Sweep:
    summary: SweepSummary = attrs.field(factory=SweepSummary)
    # (payment id, (next check time or None to drop the check, attempts)) not written yet.
    next_checks: list[tuple[str, tuple[datetime | None, int]]] = attrs.field(factory=list)
