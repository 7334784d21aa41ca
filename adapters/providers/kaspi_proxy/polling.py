"""How politely to poll Kaspi: it never calls back, and its anti-load system rejects tight timers."""

from __future__ import annotations

from datetime import timedelta

from domain.polling import PollSchedule

# Most customers approve a remote bill within a few minutes; after that a payment is asked about
# ever more rarely, up to its 24 hours (Kaspi then cancels it and answers `Error`). About 120 status
# calls over a payment's whole life, most of them in its first hour.
KASPI_POLL_SCHEDULE = PollSchedule(
    steps=(
        (timedelta(minutes=3), timedelta(seconds=15)),
        (timedelta(minutes=10), timedelta(seconds=30)),
        (timedelta(hours=1), timedelta(minutes=2)),
        (timedelta(hours=6), timedelta(minutes=10)),
        (timedelta(hours=24), timedelta(minutes=30)),
    ),
    grace=timedelta(minutes=5),
)
