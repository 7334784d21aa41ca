"""The console's first page: what needs an operator now, today's payments by status, and how often
payments succeeded over the last 24 hours per seller and per provider."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs

from domain.payment import PaymentStatus

from application.ports import Attention, Clock, ReportReader

WINDOW = timedelta(hours=24)
# Money taken: what a success rate counts as success.
_SUCCESSFUL = frozenset(
    status.value
    for status in (
        PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED, PaymentStatus.AUTHORIZED
    )
)


@attrs.frozen
class SuccessRate:
    name: str
    succeeded: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.succeeded / self.total) if self.total else 0


@attrs.frozen
class Overview:
    attention: Attention
    today_by_status: Mapping[str, int]
    by_seller: list[SuccessRate]
    by_provider: list[SuccessRate]


class OperationsOverview:
    def __init__(self, *, reader: ReportReader, clock: Clock, timezone: str) -> None:
        self._reader = reader
        self._clock = clock
        self._zone = ZoneInfo(timezone)

    async def execute(self, *, shops: Collection[int] | None) -> Overview:
        now = self._clock.now()
        midnight = datetime.combine(now.astimezone(self._zone).date(), time(), self._zone)
        attention = await self._reader.attention(now=now, shop_ids=shops)
        today: Counter[str] = Counter()
        for row in await self._reader.outcomes_since(midnight, shop_ids=shops):
            today[row.status] += row.count
        sellers: dict[str, list[int]] = {}
        providers: dict[str, list[int]] = {}
        for row in await self._reader.outcomes_since(now - WINDOW, shop_ids=shops):
            for name, table in ((str(row.shop_id), sellers), (row.provider, providers)):
                counts = table.setdefault(name, [0, 0])
                counts[0] += row.count if row.status in _SUCCESSFUL else 0
                counts[1] += row.count
        return Overview(attention, dict(sorted(today.items())), _rates(sellers), _rates(providers))


def _rates(table: dict[str, list[int]]) -> list[SuccessRate]:
    return [SuccessRate(name, succeeded, total) for name, (succeeded, total) in sorted(table.items())]
