"""The poll schedule: often while the customer decides, then rarely, and a check right at the deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.polling import PollSchedule

from adapters.providers.kaspi_proxy.polling import KASPI_POLL_SCHEDULE

CREATED = datetime(2025, 10, 22, 12, 0, tzinfo=UTC)
EXPIRES = CREATED + timedelta(hours=24)


@pytest.mark.parametrize(
    ("age", "interval"),
    [
        (timedelta(0), timedelta(seconds=15)),
        (timedelta(minutes=2, seconds=59), timedelta(seconds=15)),
        (timedelta(minutes=3), timedelta(seconds=30)),
        (timedelta(minutes=30), timedelta(minutes=2)),
        (timedelta(hours=2), timedelta(minutes=10)),
        (timedelta(hours=12), timedelta(minutes=30)),
        (timedelta(hours=40), timedelta(minutes=30)),
    ],
)
def test_kaspi_is_asked_often_at_first_then_rarely(age: timedelta, interval: timedelta) -> None:
    assert KASPI_POLL_SCHEDULE.interval(age) == interval


def test_a_kaspi_payment_is_asked_about_politely_over_its_whole_life() -> None:
    now, calls = CREATED, 0
    while not KASPI_POLL_SCHEDULE.is_past_lifetime(EXPIRES, now):
        now = KASPI_POLL_SCHEDULE.next_check(created_at=CREATED, expires_at=EXPIRES, now=now)
        calls += 1
    assert 100 < calls < 150
    assert now == EXPIRES + timedelta(minutes=5)  # the last check lands on the deadline itself


def test_the_next_check_never_passes_the_expiry_deadline() -> None:
    now = EXPIRES - timedelta(minutes=10)
    assert KASPI_POLL_SCHEDULE.next_check(created_at=CREATED, expires_at=EXPIRES, now=now) == EXPIRES + timedelta(
        minutes=5
    )


def test_a_payment_without_an_expiry_is_asked_about_forever() -> None:
    later = CREATED + timedelta(days=3)
    assert not KASPI_POLL_SCHEDULE.is_past_lifetime(None, later)
    assert KASPI_POLL_SCHEDULE.next_check(created_at=CREATED, expires_at=None, now=later) == later + timedelta(
        minutes=30
    )


@pytest.mark.parametrize(
    "steps",
    [
        (),
        ((timedelta(minutes=10), timedelta(minutes=1)), (timedelta(minutes=5), timedelta(minutes=2))),
        ((timedelta(minutes=10), timedelta(0)),),
    ],
)
def test_a_schedule_that_makes_no_sense_is_refused(steps: tuple[tuple[timedelta, timedelta], ...]) -> None:
    with pytest.raises(ValueError):
        PollSchedule(steps=steps)
