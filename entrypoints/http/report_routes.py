"""GET /v1/reports/settlements: what each seller was paid and refunded per day, provider and
currency, in minor units (JSON, or CSV with `Accept: text/csv`), within the key's shops."""

from __future__ import annotations

from datetime import date

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from domain.access import Scope
from domain.identifiers import check_shop_id

from application.settlement_report import MAX_DAYS, SettlementRow

from entrypoints.csv_export import to_csv
from entrypoints.http.auth import authorize
from entrypoints.http.json_body import BadRequest
from entrypoints.http.operations import AUTH_ERRORS, Operation, error
from entrypoints.http.report_shapes import SettlementLine, SettlementRows
from entrypoints.http.responses import JsonResponse
from entrypoints.http.use_cases import use_cases

_QUERY = frozenset({"shop_id", "from", "to"})
# The CSV's columns are the JSON rows' fields, in their order.
HEADER: tuple[str, ...] = SettlementLine.__struct_fields__


def _date(request: Request, name: str) -> date:
    raw = request.query_params.get(name)
    if raw is None:
        raise BadRequest("missing_field", f"{name} is required (a date such as 2026-12-07)", field=name)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest("invalid_value", f"{name} is a date such as 2026-12-07", field=name) from None


def settlement_line(row: SettlementRow) -> SettlementLine:
    return SettlementLine(
        shop_id=row.shop_id, date=row.day.isoformat(), provider=row.provider, currency=row.currency,
        payments_count=row.payments_count, paid=row.paid, refunds_count=row.refunds_count, refunded=row.refunded,
        net=row.net,
    )


def row_values(row: SettlementRow) -> tuple[object, ...]:
    return msgspec.structs.astuple(settlement_line(row))


async def settlements(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_READ)
    for name in request.query_params:
        if name not in _QUERY:
            raise BadRequest("unknown_field", f"unknown query parameter {name!r}", field=name)
    raw_shop = request.query_params.get("shop_id")
    if raw_shop is not None and not (raw_shop.isascii() and raw_shop.isdigit() and len(raw_shop) <= 18):
        raise BadRequest("invalid_value", "shop_id must be a positive integer", field="shop_id")
    rows = await use_cases(request).settlement_report.execute(
        first=_date(request, "from"), last=_date(request, "to"),
        shop_id=None if raw_shop is None else check_shop_id(int(raw_shop)), shops=principal.shops,
    )
    if "text/csv" in request.headers.get("accept", ""):
        return Response(to_csv(HEADER, (row_values(r) for r in rows)), media_type="text/csv; charset=utf-8")
    return JsonResponse(SettlementRows([settlement_line(r) for r in rows]))


operations = [
    Operation(
        "GET", "/v1/reports/settlements", settlements,
        "What each seller was paid and refunded per day, provider and currency", SettlementRows,
        description=f"Days `from` to `to` inclusive (at most {MAX_DAYS}), in REPORT_TIMEZONE; within the key's shops. "
        "`Accept: text/csv` answers the same rows as CSV.",
        parameters=[
            {"name": "shop_id", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
            {"name": "from", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
            {"name": "to", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
        ],
        other_media={"text/csv": {"type": "string"}},
        responses={**AUTH_ERRORS, "422": error("bad query")},
    ),
]
