"""The in-process token bucket: a burst at once, then the sustained rate, each key on its own."""

from __future__ import annotations

import pytest

from adapters.rate_limit import InProcessTokenBucket, NoRateLimit

pytestmark = pytest.mark.anyio


class Ticking:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


async def test_a_burst_passes_and_the_next_request_is_told_how_long_to_wait() -> None:
    clock = Ticking()
    bucket = InProcessTokenBucket(rate=2, burst=5, clock=clock)

    assert [await bucket.acquire("key_a") for _ in range(5)] == [None] * 5
    assert await bucket.acquire("key_a") == pytest.approx(0.5)


async def test_the_allowance_refills_at_the_rate_and_never_beyond_the_burst() -> None:
    clock = Ticking()
    bucket = InProcessTokenBucket(rate=2, burst=3, clock=clock)
    for _ in range(3):
        await bucket.acquire("key_a")

    clock.now += 0.5  # one token back
    assert await bucket.acquire("key_a") is None
    assert await bucket.acquire("key_a") is not None

    clock.now += 3600  # an hour idle refills the burst, not 7200 requests
    assert [await bucket.acquire("key_a") for _ in range(3)] == [None] * 3
    assert await bucket.acquire("key_a") is not None


async def test_refused_requests_do_not_deepen_the_debt() -> None:
    clock = Ticking()
    bucket = InProcessTokenBucket(rate=1, burst=1, clock=clock)
    await bucket.acquire("key_a")
    for _ in range(100):
        assert await bucket.acquire("key_a") == pytest.approx(1.0)
    clock.now += 1
    assert await bucket.acquire("key_a") is None


async def test_each_key_has_its_own_bucket() -> None:
    bucket = InProcessTokenBucket(rate=1, burst=1, clock=Ticking())
    assert await bucket.acquire("key_a") is None
    assert await bucket.acquire("key_a") is not None
    assert await bucket.acquire("key_b") is None


async def test_the_number_of_buckets_is_bounded() -> None:
    clock = Ticking()
    bucket = InProcessTokenBucket(rate=1, burst=1, max_buckets=2, clock=clock)
    for key in ("a", "b", "c"):
        await bucket.acquire(key)
    # "a" was the least recently used: forgotten, so it starts again with a full burst.
    assert await bucket.acquire("a") is None
    assert await bucket.acquire("c") is not None


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 5), (1, 0)])
def test_a_bucket_needs_a_positive_rate_and_burst(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        InProcessTokenBucket(rate=rate, burst=burst)


async def test_no_rate_limit_allows_everything() -> None:
    limiter = NoRateLimit()
    assert [await limiter.acquire("key_a") for _ in range(1000)] == [None] * 1000
