"""The overview and the settlement report pages."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from domain.access import ApiKey, Scope
from domain.errors import InvalidValue

from entrypoints.console.charts import success_bars
from entrypoints.console.web import page, render, session_of
from entrypoints.csv_export import to_csv
from entrypoints.http.report_routes import HEADER, row_values
from entrypoints.http.use_cases import use_cases


@page(Scope.PAYMENTS_READ)
async def overview(request: Request, principal: ApiKey) -> Response:
    found = await use_cases(request).operations_overview.execute(shops=principal.shops)
    return render(
        request, "overview.html", principal=principal, session=session_of(request), o=found,
        every_shop=principal.shops is None, today=report_days(request)[0].isoformat(),
        sellers_chart=Markup(success_bars(found.by_seller, title="sellers")),  # noqa: S704 - escaped in success_bars
        providers_chart=Markup(success_bars(found.by_provider, title="providers")),  # noqa: S704
    )


def report_days(request: Request, *, first: str = "from", last: str = "to") -> tuple[date, date]:
    """`from` and `to`: inclusive dates; `to` defaults to `from`, `from` to today in REPORT_TIMEZONE."""
    core = use_cases(request)
    today = core.clock.now().astimezone(ZoneInfo(core.settings.report_timezone)).date()

    def day(name: str, default: date) -> date:
        raw = request.query_params.get(name)
        if not raw:
            return default
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise InvalidValue(name, f"{name} is a date such as 2026-12-07") from None

    start = day(first, today)
    return start, day(last, start)


def shop_filter(request: Request) -> int | None:
    raw = request.query_params.get("shop_id")
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise InvalidValue("shop_id", "shop_id is a positive number")
    return int(raw)


@page(Scope.PAYMENTS_READ)
async def settlements(request: Request, principal: ApiKey) -> Response:
    first, last = report_days(request)
    shop_id = shop_filter(request)
    rows = await use_cases(request).settlement_report.execute(
        first=first, last=last, shop_id=shop_id, shops=principal.shops
    )
    if request.query_params.get("format") == "csv":
        return Response(
            to_csv(HEADER, (row_values(r) for r in rows)), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="settlements.csv"', "Cache-Control": "no-store"},
        )
    return render(
        request, "settlements.html", principal=principal, session=session_of(request), rows=rows,
        filters={"from": first.isoformat(), "to": last.isoformat(), "shop_id": "" if shop_id is None else str(shop_id)},
    )
