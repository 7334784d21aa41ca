"""The provider throttle: a token bucket driven by an injected clock, never by real time."""

from __future__ import annotations

import asyncio

import pytest

from adapters.throttle import TokenBucketThrottle

pytestmark = pytest.mark.anyio


class FakeTime:
    """A monotonic clock whose sleep moves it forward instead of waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # let the other callers queue up, as a real sleep would


async def test_calls_are_spaced_to_the_rate_whatever_the_concurrency() -> None:
    time = FakeTime()
    throttle = TokenBucketThrottle(rate=200, clock=time.clock, sleep=time.sleep)
    started: list[float] = []

    async def call() -> None:
        await throttle.wait_turn()
        started.append(time.now)

    await asyncio.gather(*(call() for _ in range(201)))

    assert started[0] == 1000.0  # the first token is there at once
    assert started[-1] - started[0] == pytest.approx(1.0)  # 200 more take exactly a second
    assert all(b - a == pytest.approx(0.005) for a, b in zip(started, started[1:], strict=False))


async def test_a_burst_lets_that_many_through_after_a_quiet_spell() -> None:
    time = FakeTime()
    throttle = TokenBucketThrottle(rate=10, burst=3, clock=time.clock, sleep=time.sleep)

    for _ in range(3):
        await throttle.wait_turn()
    assert time.sleeps == []
    await throttle.wait_turn()
    assert time.sleeps == [pytest.approx(0.1)]


async def test_idle_time_does_not_bank_more_than_the_burst() -> None:
    time = FakeTime()
    throttle = TokenBucketThrottle(rate=10, burst=2, clock=time.clock, sleep=time.sleep)
    time.now += 3600

    for _ in range(3):
        await throttle.wait_turn()

    assert time.sleeps == [pytest.approx(0.1)]


async def test_a_sleep_that_ends_early_is_made_up_by_the_next_caller() -> None:
    time = FakeTime()

    async def short_sleep(seconds: float) -> None:
        time.sleeps.append(seconds)
        time.now += seconds / 2

    throttle = TokenBucketThrottle(rate=10, clock=time.clock, sleep=short_sleep)
    for _ in range(3):
        await throttle.wait_turn()

    assert time.sleeps[0] == pytest.approx(0.1)
    assert time.sleeps[1] == pytest.approx(0.15)  # the debt of the short first sleep, then its own


async def test_a_sleep_that_ends_late_does_not_push_the_next_calls_back() -> None:
    time = FakeTime()

    async def long_sleep(seconds: float) -> None:
        time.sleeps.append(seconds)
        time.now += seconds * 1.5  # a busy event loop wakes the sleeper late

    throttle = TokenBucketThrottle(rate=10, clock=time.clock, sleep=long_sleep)
    for _ in range(3):
        await throttle.wait_turn()

    assert time.sleeps[0] == pytest.approx(0.1)  # the second call's slot: 0.1 s in; it woke at 0.15 s
    assert time.sleeps[1] == pytest.approx(0.05)  # the third keeps its slot at 0.2 s: the rate holds


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-5, 1), (10, 0.5)])
async def test_a_meaningless_limit_is_refused(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        TokenBucketThrottle(rate=rate, burst=burst)
