"""Token buckets per API key: in this process, or in Redis when several replicas share the limit."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

from adapters.logs import get_logger

log = get_logger("paygate.rate_limit")
_WARN_EVERY = 10.0


class InProcessTokenBucket:
    """`rate` requests a second on average, `burst` at once; each process counts on its own."""

    def __init__(
        self, *, rate: float, burst: int, max_buckets: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self._rate = rate
        self._burst = float(burst)
        self._max_buckets = max_buckets
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # bucket -> (tokens, at)

    async def acquire(self, bucket: str) -> float | None:
        now = self._clock()
        tokens, at = self._buckets.pop(bucket, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        if tokens >= 1:
            self._remember(bucket, tokens - 1, now)
            return None
        self._remember(bucket, tokens, now)
        return (1 - tokens) / self._rate

    def _remember(self, bucket: str, tokens: float, at: float) -> None:
        # Re-inserted last, so the first entry is the least recently used one.
        if len(self._buckets) >= self._max_buckets:
            del self._buckets[next(iter(self._buckets))]
        self._buckets[bucket] = (tokens, at)


# One round trip, atomic: Redis runs a script alone. The clock is Redis's own (TIME), so replicas
# with skewed clocks still agree. Numbers go back as strings: Lua numbers would be cut to integers.
_TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisTokenBucket:
    """The same bucket kept in Redis, shared by every replica.

    When Redis cannot be reached the request is let through (and logged): the limit protects the
    gateway, and taking payments down with Redis would defeat that.
    """

    def __init__(self, client: redis.Redis, *, rate: float, burst: int, prefix: str = "paygate:rate:") -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self._script = client.register_script(_TOKEN_BUCKET)
        self._rate = rate
        self._burst = burst
        self._prefix = prefix
        self._warned_at = -math.inf

    async def acquire(self, bucket: str) -> float | None:
        try:
            wait = float(await self._script(keys=[self._prefix + bucket], args=[repr(self._rate), self._burst]))
        except (RedisError, OSError, ValueError) as error:
            if time.monotonic() - self._warned_at > _WARN_EVERY:  # one line, not one per request
                self._warned_at = time.monotonic()
                log.warning("rate_limits_unchecked", reason="Redis unavailable", error=type(error).__name__)
            return None
        return None if wait <= 0 else wait


class NoRateLimit:
    """RATE_LIMIT_PER_SECOND=0: every request is allowed."""

    async def acquire(self, bucket: str) -> float | None:
        return None
