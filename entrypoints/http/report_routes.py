"""GET /v1/reports/settlements: what each seller was paid and refunded per day, provider and
currency, in minor units (JSON, or CSV with `Accept: text/csv`), within the key's shops."""

from __future__ import annotations

from datetime import date

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.access import Scope
from domain.identifiers import check_shop_id

from application.settlement_report import SettlementRow

from entrypoints.csv_export import to_csv
from entrypoints.http.auth import authorize
from entrypoints.http.json_body import BadRequest
from entrypoints.http.responses import JsonResponse

_QUERY = frozenset({"shop_id", "from", "to"})
HEADER = ("shop_id", "date", "provider", "currency", "payments_count", "paid", "refunds_count", "refunded", "net")


def _date(request: Request, name: str) -> date:
    raw = request.query_params.get(name)
    if raw is None:
        raise BadRequest("missing_field", f"{name} is required (a date such as 2026-12-07)", field=name)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest("invalid_value", f"{name} is a date such as 2026-12-07", field=name) from None


def row_values(row: SettlementRow) -> tuple[object, ...]:
    return (
        row.shop_id, row.day.isoformat(), row.provider, row.currency, row.payments_count, row.paid,
        row.refunds_count, row.refunded, row.net,
    )


async def settlements(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_READ)
    for name in request.query_params:
        if name not in _QUERY:
            raise BadRequest("unknown_field", f"unknown query parameter {name!r}", field=name)
    raw_shop = request.query_params.get("shop_id")
    if raw_shop is not None and not (raw_shop.isascii() and raw_shop.isdigit() and len(raw_shop) <= 18):
        raise BadRequest("invalid_value", "shop_id must be a positive integer", field="shop_id")
    rows = await request.app.state.container.settlement_report().execute(
        first=_date(request, "from"), last=_date(request, "to"),
        shop_id=None if raw_shop is None else check_shop_id(int(raw_shop)), shops=principal.shops,
    )
    if "text/csv" in request.headers.get("accept", ""):
        return Response(to_csv(HEADER, (row_values(r) for r in rows)), media_type="text/csv; charset=utf-8")
    return JsonResponse({"data": [dict(zip(HEADER, row_values(r), strict=True)) for r in rows]})


routes = [Route("/v1/reports/settlements", settlements, methods=["GET"])]
