"""A token bucket: paces calls to a provider to its rate limit, in one process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucketThrottle:
    """`rate` requests per second on average, at most `burst` at once after a quiet spell.

    Callers queue in order behind one lock and sleep until their token has accrued, so the rate
    holds whatever the concurrency. The clock and the sleep are injected: tests drive time.
    """

    def __init__(
        self,
        *,
        rate: float,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        self._burst = burst
        self._clock = clock
        self._sleep = sleep
        # The bucket's state as the time of the next free slot (a full bucket: `burst` slots are due).
        self._next_slot = clock() - (burst - 1) / rate
        self._lock = asyncio.Lock()

    async def wait_turn(self) -> None:
        async with self._lock:
            # Slots lie on a fixed schedule 1/rate apart. The schedule is kept rather than the time a
            # sleep ended: refilling on waking would lose every sleep's overshoot (docs/performance.md),
            # while a sleep that ended early leaves a debt the next caller waits out.
            now = self._clock()
            slot = max(self._next_slot, now - (self._burst - 1) / self.rate)
            if slot > now:
                await self._sleep(slot - now)
            self._next_slot = slot + 1 / self.rate
