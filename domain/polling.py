"""When to ask a provider about an open payment again: often while the customer is deciding, then rarely."""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs


def _check_steps(_instance: object, _attribute: object, steps: tuple[tuple[timedelta, timedelta], ...]) -> None:
    if not steps:
        raise ValueError("a poll schedule needs at least one step")
    ages = [age for age, _ in steps]
    if ages != sorted(ages) or len(set(ages)) != len(ages):
        raise ValueError("poll schedule steps must be in increasing order of age")
    if any(interval <= timedelta(0) for _, interval in steps):
        raise ValueError("poll intervals must be positive")


@attrs.frozen
class PollSchedule:
    """`steps`: (age, interval) pairs — until a payment is `age` old it is checked every `interval`.

    Past the last age the last interval holds. A payment still open at its expiry plus `grace` is
    expired (the grace covers the provider's own clock starting a little after ours).
    """

    steps: tuple[tuple[timedelta, timedelta], ...] = attrs.field(validator=_check_steps)
    grace: timedelta = timedelta(minutes=5)

    def interval(self, age: timedelta) -> timedelta:
        for until, interval in self.steps:
            if age < until:
                return interval
        return self.steps[-1][1]

    def expiry_deadline(self, expires_at: datetime | None) -> datetime | None:
        return None if expires_at is None else expires_at + self.grace

    def is_past_lifetime(self, expires_at: datetime | None, now: datetime) -> bool:
        deadline = self.expiry_deadline(expires_at)
        return deadline is not None and now >= deadline

    def next_check(self, *, created_at: datetime, expires_at: datetime | None, now: datetime) -> datetime:
        """The next time to ask; never later than the expiry deadline, so an unpaid payment expires on time."""
        following = now + self.interval(now - created_at)
        deadline = self.expiry_deadline(expires_at)
        if deadline is not None and now < deadline < following:
            return deadline
        return following


# For a provider without a schedule of its own: a minute at first, then every ten.
DEFAULT_POLL_SCHEDULE = PollSchedule(
    steps=((timedelta(minutes=10), timedelta(minutes=1)), (timedelta(hours=24), timedelta(minutes=10))),
)


@attrs.frozen
class PaymentCheck:
    """The poller's bookkeeping for one open payment; kept apart from the payment itself.

    `leased_until` is set while a poller holds the check: another poller skips it until then, and a
    crashed poller's lease simply runs out.
    """

    payment_id: str
    next_check_at: datetime
    attempts: int = 0
    leased_until: datetime | None = None


# Refunds: card refunds settle within minutes to days; a pending one is asked about often at first,
# then hourly, for as long as it stays pending (only the provider's final word closes it).
REFUND_POLL_SCHEDULE = PollSchedule(
    steps=(
        (timedelta(minutes=10), timedelta(minutes=1)),
        (timedelta(hours=24), timedelta(minutes=15)),
        (timedelta(days=30), timedelta(hours=1)),
    ),
)


@attrs.frozen
class RefundCheck:
    """The poller's bookkeeping for one open refund (pending, or with an unknown outcome)."""

    refund_id: str
    next_check_at: datetime
    attempts: int = 0
    leased_until: datetime | None = None
