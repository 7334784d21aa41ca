"""A payment's status for the pages that watch it: at most one provider question per payment per interval.

Any number of open pay pages poll; the provider (Kaspi rejects tight polling) hears of a payment at
most once per `interval` from this process: concurrent polls share the one refresh in flight
(single-flight), and polls within `interval` of the last refresh read the stored payment. Several
replicas each keep their own timestamps, so the provider sees at most one question per payment per
interval per replica; webhooks and the poller keep updating the stored payment meanwhile.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from domain.payment import OPEN, Payment

from application.get_payment import GetPayment
from application.ports import Clock

REFRESH_INTERVAL = timedelta(seconds=5)
# Timestamps older than the interval mean nothing; they are dropped once this many are kept.
_PRUNE_AT = 10_000


class CheckoutStatus:
    def __init__(self, *, get_payment: GetPayment, clock: Clock, interval: timedelta = REFRESH_INTERVAL) -> None:
        self._get_payment = get_payment
        self._clock = clock
        self._interval = interval
        self._refreshed_at: dict[str, datetime] = {}
        self._in_flight: dict[str, asyncio.Task[Payment]] = {}

    async def current(self, payment_id: str) -> Payment:
        """The payment, refreshed from the provider if it is open and nobody asked in the last interval."""
        running = self._in_flight.get(payment_id)
        if running is not None:
            return await asyncio.shield(running)
        stored = await self._get_payment.by_id(payment_id, refresh=False)
        if stored.status not in OPEN or not self._due(payment_id):
            return stored
        running = self._in_flight.get(payment_id)  # another poll may have started one meanwhile
        if running is None:
            self._refreshed_at[payment_id] = self._clock.now()
            running = asyncio.create_task(self._get_payment.by_id(payment_id, refresh=True, actor="pay-page"))
            self._in_flight[payment_id] = running
            running.add_done_callback(lambda _task: self._in_flight.pop(payment_id, None))
        return await asyncio.shield(running)

    def _due(self, payment_id: str) -> bool:
        now = self._clock.now()
        last = self._refreshed_at.get(payment_id)
        if len(self._refreshed_at) >= _PRUNE_AT:
            self._refreshed_at = {k: t for k, t in self._refreshed_at.items() if now - t < self._interval}
        return last is None or now - last >= self._interval
