"""Payments: search and filters, CSV export, one payment's page with its timeline and the actions
its key may take. Every read and action goes through the API's use cases with the key's reach."""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from domain.access import ApiKey, Scope
from domain.errors import InvalidValue
from domain.money import Money
from domain.payment import REFUNDABLE, PaymentStatus

from application.payment_views import payment_view
from application.ports import PaymentSearch
from application.refund_payment import MAX_REASON, RefundCommand
from application.settlement_report import check_day

from entrypoints.console.web import back, checked_form, page, render, session_of
from entrypoints.csv_export import to_csv
from entrypoints.http.auth import require_every_shop
from entrypoints.http.use_cases import use_cases

_FILTERS = ("q", "shop_id", "provider", "status", "from", "to", "attention")
_CSV_HEADER = (
    "id", "created_at", "shop_id", "provider", "status", "amount", "currency", "refunded",
    "order_id", "customer_id", "external_id", "description",
)

# The hidden `attempt` of a refund form: what `secrets.token_urlsafe(16)` makes.
_ATTEMPT = re.compile(r"[A-Za-z0-9_-]{16,64}")


def _day(raw: str | None, field: str) -> date | None:
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidValue(field, f"{field} is a date such as 2026-12-07") from None
    return check_day(field, day)


def search_of(request: Request) -> PaymentSearch:
    """The filters in the query string; dates are days in REPORT_TIMEZONE, `to` inclusive."""
    query = request.query_params
    core = use_cases(request)
    zone = ZoneInfo(core.settings.report_timezone)
    first, last = _day(query.get("from"), "from"), _day(query.get("to"), "to")
    shop = query.get("shop_id") or None
    if shop is not None and not (shop.isascii() and shop.isdigit() and len(shop) <= 18):
        raise InvalidValue("shop_id", "shop_id is a number")
    return PaymentSearch(
        text=(query.get("q") or "").strip() or None,
        shop_id=int(shop) if shop else None,
        provider=query.get("provider") or None,
        status=query.get("status") or None,
        created_from=datetime.combine(first, time(), zone) if first else None,
        created_before=datetime.combine(last + timedelta(days=1), time(), zone) if last else None,
        before_id=query.get("cursor") or None,
        outcome_unknown=query.get("attention") == "outcome_unknown",
        refund_outcome_unknown=query.get("attention") == "refund_unknown",
        expired_before=core.clock.now() if query.get("attention") == "overdue" else None,
    )


@page(Scope.PAYMENTS_READ)
async def list_payments(request: Request, principal: ApiKey) -> Response:
    core = use_cases(request)
    result = await core.search_payments.page(search_of(request), shops=principal.shops)
    filters = {name: request.query_params.get(name, "") for name in _FILTERS}
    return render(
        request, "payments.html", principal=principal, session=session_of(request), page=result, filters=filters,
        statuses=[s.value for s in PaymentStatus], providers=core.payment_providers.names(),
    )


@page(Scope.PAYMENTS_READ)
async def export_payments(request: Request, principal: ApiKey) -> Response:
    search = search_of(request)
    found = await use_cases(request).search_payments.export(search, shops=principal.shops)
    # Through the subscribers' view: an export never holds a secret or a link that pays.
    rows = (
        (
            v.id, v.created_at, v.shop_id, v.provider, v.status, v.amount, v.currency, v.refunds.refunded,
            v.order_id, v.customer_id, v.external_id, v.description,
        )
        for v in map(payment_view, found)
    )
    return Response(
        to_csv(_CSV_HEADER, rows), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="payments.csv"', "Cache-Control": "no-store"},
    )


@page(Scope.PAYMENTS_READ)
async def show_payment(request: Request, principal: ApiKey) -> Response:
    core = use_cases(request)
    payment = await core.get_payment.by_id(request.path_params["payment_id"], refresh=False, shops=principal.shops)
    story = await core.payment_timeline.of(payment)
    can_write = principal.allows(Scope.PAYMENTS_WRITE)
    return render(
        request, "payment.html", principal=principal, session=session_of(request), story=story, p=payment,
        can_refund=can_write and payment.status in REFUNDABLE and payment.refundable.minor > 0,
        refund_attempt=secrets.token_urlsafe(16),
        can_capture=can_write and payment.status is PaymentStatus.AUTHORIZED,
        can_cancel=can_write and payment.status in (PaymentStatus.PENDING, PaymentStatus.AUTHORIZED),
        can_attach=principal.allows(Scope.ADMIN) and principal.shops is None
        and payment.status is PaymentStatus.PENDING and payment.external_id is None,
        can_redeliver=principal.allows(Scope.ADMIN) and principal.shops is None,
    )


def _payment_url(payment_id: str) -> str:
    return f"/console/payments/{payment_id}"


def _amount(form: dict[str, str], currency: str) -> Money | None:
    """A decimal amount as typed (12 345.67); empty: everything left. Never a float."""
    raw = str(form.get("amount") or "").replace("\u202f", "").replace(" ", "").replace(",", ".")
    if not raw:
        return None
    try:
        minor = Decimal(raw) * 100
    except InvalidOperation:
        raise InvalidValue("amount", "amount is a number such as 1500.00") from None
    if minor != minor.to_integral_value() or minor <= 0:
        raise InvalidValue("amount", "amount is positive, with at most two decimals")
    return Money(int(minor), currency)


@page(Scope.PAYMENTS_WRITE)
async def refund(request: Request, principal: ApiKey) -> Response:
    form = await checked_form(request, session_of(request))
    core = use_cases(request)
    payment_id = request.path_params["payment_id"]
    payment = await core.get_payment.by_id(payment_id, refresh=False, shops=principal.shops)
    reason = str(form.get("reason") or "").strip()
    # One key per rendered form: a double-click or a resent form refunds once, a new form anew.
    attempt = str(form.get("attempt") or "")
    key = f"console-{attempt}" if _ATTEMPT.fullmatch(attempt) else None
    if len(reason) > MAX_REASON:
        raise InvalidValue("reason", f"a reason is at most {MAX_REASON} characters")
    await core.refund_payment.execute(
        RefundCommand(
            shop_id=payment.shop_id, provider=payment.provider, payment_id=payment.id,
            amount=_amount(form, payment.amount.currency), actor=principal.name, reason=reason or None,
            idempotency_key=key,
        )
    )
    return back(_payment_url(payment.id), notice="Done.")


async def _act(request: Request, principal: ApiKey, action: str) -> Response:
    await checked_form(request, session_of(request))
    payment_id = request.path_params["payment_id"]
    core = use_cases(request)
    use_case = core.capture_payment if action == "capture" else core.cancel_payment
    await use_case.execute(payment_id, shops=principal.shops, actor=principal.name)
    return back(_payment_url(payment_id), notice="Done.")


@page(Scope.PAYMENTS_WRITE)
async def capture(request: Request, principal: ApiKey) -> Response:
    return await _act(request, principal, "capture")


@page(Scope.PAYMENTS_WRITE)
async def cancel(request: Request, principal: ApiKey) -> Response:
    return await _act(request, principal, "cancel")


@page(Scope.ADMIN)
async def attach(request: Request, principal: ApiKey) -> Response:
    """`paygate payments attach` in a form: the same use case, so the same checks (the provider is
    asked; the amount typed where it cannot tell)."""
    require_every_shop(principal, "lost provider answers")
    form = await checked_form(request, session_of(request))
    payment_id = request.path_params["payment_id"]
    external_id = str(form.get("external_id") or "").strip()
    if not external_id:
        raise InvalidValue("external_id", "name the provider's payment id")
    typed = str(form.get("amount") or "").strip()
    try:
        amount = Decimal(typed) if typed else None
    except InvalidOperation:
        raise InvalidValue("amount", "amount is a number such as 1500.00") from None
    await use_cases(request).attach_external_id.execute(
        payment_id, external_id, typed_amount=amount, actor=principal.name
    )
    return back(_payment_url(payment_id), notice="Done.")


@page(Scope.ADMIN)
async def redeliver(request: Request, principal: ApiKey) -> Response:
    require_every_shop(principal, "webhooks")
    form = await checked_form(request, session_of(request))
    await use_cases(request).manage_webhooks.redeliver(
        request.path_params["delivery_id"], actor=principal.name
    )
    to = str(form.get("next") or "/console/webhooks")
    return back(to if to.startswith("/console/") and "//" not in to else "/console/webhooks", notice="Done.")

