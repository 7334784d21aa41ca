"""The poller's sweep: ask providers about open payments that are due, through the one status-change path.

Kaspi never calls back, so for it this is how a payment gets settled. A due check is leased in a
short transaction (several pollers never ask about the same payment in one round), the provider is
asked with no transaction open, and the answer goes through `SyncPaymentStatus.apply`. A provider
error is audited and the check rescheduled: an unanswered question never fails a payment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

import attrs

from domain.errors import DomainError
from domain.payment import OPEN, Payment, PaymentStatus
from domain.polling import DEFAULT_POLL_SCHEDULE, PaymentCheck, PollSchedule

from application.cancel_payment import CancelPayment
from application.errors import ApplicationError
from application.ports import Clock, Throttle, UnitOfWork, UnitOfWorkFactory
from application.providers import ProviderDirectory
from application.sync_status import SyncPaymentStatus, is_news

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
        withdraw: Callable[[Payment], Awaitable[bool]] | None = None,
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
        # Asked before an unpaid payment expires; False keeps it open (see `WithdrawBeforeExpiry`).
        self._withdraw = withdraw

    async def sweep(self, *, until: asyncio.Event | None = None) -> SweepSummary:
        """Check every payment due when the sweep starts, once; return when all are done.

        One task claims batches while `concurrency` workers check what was claimed, so a claim's
        round trips never stall the checks. At most two batches wait unstarted: a lease is not
        spent queueing. Once `until` is set no more is claimed; what was claimed is finished.
        """
        sweep = _Sweep()
        due_by = self._clock.now()
        claimed: asyncio.Queue[tuple[PaymentCheck, Payment] | None] = asyncio.Queue()
        room = asyncio.Semaphore(2 * self._batch_size)

        async def claim_all() -> None:
            try:
                while until is None or not until.is_set():
                    for _ in range(self._batch_size):
                        await room.acquire()
                    batch = await self._claim(due_by, sweep)
                    for _ in range(self._batch_size - len(batch)):
                        room.release()
                    for item in batch:
                        claimed.put_nowait(item)
                    if not batch:
                        return
            finally:
                for _ in range(self._concurrency):
                    claimed.put_nowait(None)  # one "no more" for each worker

        async def work() -> None:
            while (item := await claimed.get()) is not None:
                room.release()
                await self._check_safely(*item, sweep)

        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(claim_all())
            for _ in range(self._concurrency):
                tasks.create_task(work())
        if sweep.next_checks or sweep.finished:
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
            batch = []
            for check in checks:
                payment = await uow.payments.get(check.payment_id)
                assert payment is not None  # a check's payment is a foreign key
                batch.append((check, payment))
            await uow.commit()
        return batch

    async def _write_next_checks(self, uow: UnitOfWork, sweep: _Sweep) -> None:
        # Taken before the first await: a check finishing meanwhile goes with the next write.
        rescheduled, sweep.next_checks = sweep.next_checks, []
        finished, sweep.finished = sweep.finished, []
        await uow.checks.reschedule(rescheduled)
        for payment_id in finished:
            await uow.checks.remove(payment_id)

    async def _check_safely(self, check: PaymentCheck, payment: Payment, sweep: _Sweep) -> None:
        try:
            await self._check(check, payment, sweep)
        except Exception:  # noqa: BLE001 - one payment's trouble must not stop the sweep; its lease runs out
            sweep.summary.errors += 1
            logger.exception("payment_check_failed", extra={"payment_id": payment.id})

    async def _check(self, check: PaymentCheck, payment: Payment, sweep: _Sweep) -> None:
        summary = sweep.summary
        if payment.status not in OPEN:
            sweep.finished.append(payment.id)  # settled elsewhere since it was scheduled
            return
        schedule = self._schedules.get(payment.provider, DEFAULT_POLL_SCHEDULE)
        throttle = self._throttles.get(payment.provider)
        if throttle is not None:
            await throttle.wait_turn()
        observed = await self._sync.observe(payment, actor=ACTOR)
        summary.checked += 1
        now = self._clock.now()
        following = PaymentCheck(
            payment.id,
            next_check_at=schedule.next_check(created_at=payment.created_at, expires_at=payment.expires_at, now=now),
            attempts=check.attempts + 1,
        )
        if observed is None:
            summary.errors += 1
            sweep.next_checks.append(following)
            return
        if observed.outcome is PaymentStatus.PENDING and schedule.is_past_lifetime(payment.expires_at, now):
            if self._withdraw is not None and not await self._withdraw(payment):
                # Still payable at the provider, which would not withdraw it: ask again later.
                sweep.next_checks.append(following)
                return
            # Still unpaid past its lifetime: nobody is going to pay it.
            observed = attrs.evolve(observed, outcome=PaymentStatus.EXPIRED)
        if not is_news(payment, observed):
            # Nothing new since the claim: no change to apply (the usual answer, and the cheap one).
            sweep.next_checks.append(following)
            return
        updated = await self._sync.apply(payment.id, observed, actor=ACTOR)
        if updated.status is not payment.status:
            summary.changed += 1
            if updated.status is PaymentStatus.EXPIRED:
                summary.expired += 1
        if updated.status in OPEN:
            sweep.next_checks.append(following)


@attrs.define
class _Sweep:
    summary: SweepSummary = attrs.field(factory=SweepSummary)
    # Written with the next claim (or at the end): checks to reschedule, and checks to drop.
    next_checks: list[PaymentCheck] = attrs.field(factory=list)
    finished: list[str] = attrs.field(factory=list)


class WithdrawBeforeExpiry:
    """Before an unpaid payment expires here, cancel it where it could still be paid.

    A Stripe PaymentIntent stays payable while the browser holds its client secret: expiring it here
    alone would let the customer pay later into a payment the gateway no longer follows. The cancel
    goes through the cancel use case (audited, the one status-change path); if the provider refuses
    or does not answer — it may have been paid meanwhile — the payment stays open and is asked again.
    """

    def __init__(self, *, providers: ProviderDirectory, cancel: CancelPayment) -> None:
        self._providers = providers
        self._cancel = cancel

    async def __call__(self, payment: Payment) -> bool:
        if not self._providers.get(payment.provider).profile.cancel_before_expiry:
            return True
        try:
            await self._cancel.execute(payment.id, actor=ACTOR)
        except (ApplicationError, DomainError):
            return False
        return True
