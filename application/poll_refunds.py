"""The poller's refund sweep: ask providers about open refunds that are due, through the one refund-status path.

An open refund is pending at the provider, or its create answer was lost. Each has a check
(`refund_checks`, added with its reservation) leased in a short transaction, so pollers never ask
about the same refund at once; the provider is asked with no transaction open and its answer goes
through `SyncRefundStatus.apply`. No answer reschedules the check: an unanswered question never
fails a refund. Only the provider's final word (or an operator's) removes the check.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

import attrs

from domain.polling import RefundCheck

from application.ports import Clock, Throttle, UnitOfWorkFactory
from application.provenance import POLLER
from application.sync_refund_status import SyncRefundStatus

logger = logging.getLogger("paygate.poller")


@attrs.define
class RefundSweepSummary:
    checked: int = 0
    changed: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return attrs.asdict(self)


class PollRefunds:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        refunds: SyncRefundStatus,
        clock: Clock,
        throttles: Mapping[str, Throttle],
        batch_size: int = 100,
        lease: timedelta = timedelta(minutes=5),
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._uow = uow
        self._refunds = refunds
        self._clock = clock
        self._throttles = dict(throttles)
        self._batch_size = batch_size
        self._lease = lease

    async def sweep(self) -> RefundSweepSummary:
        """Check every refund due when the sweep starts, once (refunds are few: one at a time)."""
        summary = RefundSweepSummary()
        due_by = self._clock.now()
        while claimed := await self._claim(due_by):
            following: list[RefundCheck] = []
            for check in claimed:
                try:
                    next_check = await self._check(check, summary)
                except Exception:  # noqa: BLE001 - one refund's trouble must not stop the sweep; its lease runs out
                    summary.errors += 1
                    logger.exception("refund_check_failed", extra={"refund_id": check.refund_id})
                    continue
                if next_check is not None:
                    following.append(next_check)
            async with self._uow() as uow:
                await uow.refund_checks.reschedule(following)
                await uow.commit()
        return summary

    async def _claim(self, due_by: datetime) -> list[RefundCheck]:
        now = self._clock.now()
        async with self._uow() as uow:
            checks = await uow.refund_checks.claim_due(
                due_by=due_by, now=now, lease_until=now + self._lease, limit=self._batch_size
            )
            await uow.commit()
        return list(checks)

    async def _check(self, check: RefundCheck, summary: RefundSweepSummary) -> RefundCheck | None:
        """Ask about one refund; its next check while it stays open, else None."""
        async with self._uow() as uow:
            refund = await uow.refunds.get(check.refund_id)
            payment = await uow.payments.get(refund.payment_id) if refund is not None else None
        if refund is None or payment is None or not refund.is_open:
            async with self._uow() as uow:
                await uow.refund_checks.remove(check.refund_id)  # settled elsewhere since it was scheduled
                await uow.commit()
            return None
        throttle = self._throttles.get(payment.provider)
        if throttle is not None:
            await throttle.wait_turn()
        summary.checked += 1
        observed = await self._refunds.observe(refund, payment, actor=POLLER)
        if observed is not None:
            change = await self._refunds.apply(refund.id, observed, actor=POLLER, source=POLLER)
            if change.refund.status is not refund.status:
                summary.changed += 1
            if not change.refund.is_open:
                return None  # its check went with the change
        return self._refunds.next_check(check, refund)
