"""What each seller was paid and refunded, per day, provider and currency: the numbers a seller
reconciles against. A payment counts on the day it succeeded, a refund on the day it succeeded,
days being dates in the report's time zone (REPORT_TIMEZONE)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs

from domain.errors import InvalidValue

from application.ports import ReportReader

MAX_DAYS = 366
# Days a report can name: anything outside cannot hold a payment (and year 1 cannot even be moved to UTC).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(9998, 12, 31)


def check_day(name: str, day: date) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidValue(name, f"{name} must be between {FIRST_DAY} and {LAST_DAY}")
    return day


@attrs.frozen
class SettlementRow:
    """Sums in minor units of `currency`; `net` is paid less refunded (negative when more went back)."""

    shop_id: int
    day: date
    provider: str
    currency: str
    payments_count: int
    paid: int
    refunds_count: int
    refunded: int

    @property
    def net(self) -> int:
        return self.paid - self.refunded


class SettlementReport:
    def __init__(self, *, reader: ReportReader, timezone: str) -> None:
        self._reader = reader
        self._zone = ZoneInfo(timezone)

    async def execute(
        self, *, first: date, last: date, shop_id: int | None = None, shops: Collection[int] | None = None
    ) -> Sequence[SettlementRow]:
        """Days `first` to `last` inclusive; `shops` is the caller's reach (None: every shop)."""
        check_day("from", first)
        check_day("to", last)
        if last < first:
            raise InvalidValue("to", "to must not be before from")
        if (last - first).days >= MAX_DAYS:
            raise InvalidValue("to", f"a report covers at most {MAX_DAYS} days")
        reach: Collection[int] | None = shops
        if shop_id is not None:
            # A shop outside the caller's reach has nothing to report, exactly like an unknown one.
            reach = [shop_id] if shops is None or shop_id in shops else []
        start = datetime.combine(first, time(), self._zone)
        end = datetime.combine(last + timedelta(days=1), time(), self._zone)
        totals: dict[tuple[int, date, str, str], list[int]] = {}
        for amount in await self._reader.settled_between(start, end, shop_ids=reach):
            key = (amount.shop_id, amount.at.astimezone(self._zone).date(), amount.provider, amount.currency)
            sums = totals.setdefault(key, [0, 0, 0, 0])
            offset = 2 if amount.refund else 0
            sums[offset] += 1
            sums[offset + 1] += amount.amount_minor
        return [SettlementRow(*key, *sums) for key, sums in sorted(totals.items())]
