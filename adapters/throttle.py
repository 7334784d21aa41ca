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
        self._tokens = burst
        self._updated = clock()
        self._lock = asyncio.Lock()

    async def wait_turn(self) -> None:
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await self._sleep((1 - self._tokens) / self.rate)
                self._refill()
            # Not clamped at zero: a sleep that ended early leaves a debt the next caller waits out.
            self._tokens -= 1

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
