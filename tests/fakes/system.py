"""A clock tests set and advance, and ids that count up."""

from __future__ import annotations

from datetime import datetime, timedelta


class FixedClock:
    """Stands still until a test moves it."""

    def __init__(self, at: datetime) -> None:
        self._now = _aware(at)

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        self._now = _aware(at)

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("the clock speaks timezone-aware UTC")
    return at


class SequentialIds:
    """`pay_000001`, `re_000002`, ...: unique, ordered, and readable in a failing assertion."""

    def __init__(self) -> None:
        self._last = 0

    def new_id(self, prefix: str) -> str:
        self._last += 1
        return f"{prefix}_{self._last:06d}"
