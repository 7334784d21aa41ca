"""The declared answer of the settlement report (`GET /v1/reports/settlements`): one row per seller,
day, provider and currency, sums in minor units of that currency."""

from __future__ import annotations

from typing import Annotated

import msgspec

Count = Annotated[int, msgspec.Meta(ge=0)]


class SettlementLine(msgspec.Struct, frozen=True):
    shop_id: int
    date: Annotated[str, msgspec.Meta(description="a day in REPORT_TIMEZONE", extra_json_schema={"format": "date"})]
    provider: str
    currency: Annotated[str, msgspec.Meta(examples=["KZT"])]
    payments_count: Count
    paid: Annotated[int, msgspec.Meta(ge=0, description="payments that succeeded that day")]
    refunds_count: Count
    refunded: Annotated[int, msgspec.Meta(ge=0, description="refunds that succeeded that day")]
    net: Annotated[int, msgspec.Meta(description="paid less refunded (negative when more went back)")]


class SettlementRows(msgspec.Struct, frozen=True):
    data: list[SettlementLine]
