"""The marketplace's Bitrix client calls (`/api/...`), kept exactly as the client sends and reads them.

The client fetches a shop's config to call Kaspi itself, logs what it did, and reports statuses
it saw. Statuses are Kaspi's words (`Wait`, `Processed`, `Error`...); a log entry's amount is
Kaspi's, in tenge (`100.00`), and is stored in tiyn like every other amount.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from decimal import Decimal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.audit import Outcome
from domain.identifiers import check_shop_id
from domain.money import Money
from domain.payment import PaymentStatus
from domain.seller_route import KASPI

from application.client_reports import ClientLogEntry, StatusReport
from application.errors import ShopInactive, ShopNotFound
from application.ports import Scope

from entrypoints.http import health
from entrypoints.http.auth import authorize, require_shop
from entrypoints.http.idempotency import run_idempotently
from entrypoints.http.json_body import BadRequest, Body, read_body
from entrypoints.http.responses import JsonResponse, ok

CURRENCY = "KZT"
DEVICE_TOKEN = "device_token"
_EXTERNAL_ID = re.compile(r"^[0-9]{1,20}$")
_PROVIDER = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# Kaspi's statuses as the client sees them, and what each would mean for the payment.
KASPI_STATUSES: dict[str, PaymentStatus] = {
    "QrTokenCreated": PaymentStatus.PENDING,
    "RemotePaymentCreated": PaymentStatus.PENDING,
    "Wait": PaymentStatus.PENDING,
    "Processed": PaymentStatus.SUCCEEDED,
    "Error": PaymentStatus.FAILED,
}
_OUTCOME_OF = {PaymentStatus.PENDING: Outcome.PENDING, PaymentStatus.SUCCEEDED: Outcome.SUCCESS, PaymentStatus.FAILED: Outcome.ERROR}
# A log entry's status: the outcome of the client's call, or Kaspi's word for the payment.
LOG_OUTCOMES: dict[str, Outcome] = {
    **{outcome.value: outcome for outcome in Outcome},
    **{status: _OUTCOME_OF[meaning] for status, meaning in KASPI_STATUSES.items()},
}
OPERATIONS = frozenset({"create", "create-link", "create_link", "status", "refund", "cancel"})
MAX_ERROR_MESSAGE = 1000


def _query_shop_id(request: Request) -> int:
    values = request.query_params.getlist("shop_id")
    if not values:
        raise BadRequest("missing_field", "shop_id is required", field="shop_id")
    raw = values[0]
    if len(values) > 1 or not (raw.isascii() and raw.isdigit() and len(raw) <= 19):
        raise BadRequest("invalid_value", "shop_id must be one positive integer", field="shop_id")
    return check_shop_id(int(raw))


def _choice(body: Body, name: str, allowed: Collection[str]) -> str:
    value = body.string(name, max_length=64)
    if value is None or value not in allowed:
        raise BadRequest("invalid_value", f"{name} must be one of {sorted(allowed)}", field=name)
    return value


def _external_id(body: Body, *, required: bool) -> str | None:
    value = body.string("external_id", required=required, max_length=20)
    if value is not None and not _EXTERNAL_ID.match(value):
        raise BadRequest("invalid_value", "external_id must be Kaspi's numeric payment id", field="external_id")
    return value


def _log_amount(tenge: Decimal) -> Money:
    """A logged amount: tenge with at most two decimals, never negative (a refund is logged as
    its own operation with a positive amount)."""
    if tenge < 0:
        raise BadRequest("invalid_value", "amount must not be negative", field="amount")
    return Money.from_major(tenge, CURRENCY)


async def payment_config(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_READ, legacy=True)
    shop_id = require_shop(principal, _query_shop_id(request), KASPI)
    route = await request.app.state.container.route_store().get(shop_id, KASPI)
    if route is None:
        raise ShopNotFound(shop_id, KASPI)
    if not route.is_active:
        # The client takes any config with `is_active` present as usable: a deactivated seller's
        # BIN must never reach it. On this refusal it uses its own fallback account.
        raise ShopInactive(shop_id, KASPI)
    secrets_allowed = principal.allows(Scope.ROUTE_SECRETS)
    body = {
        "shop_id": route.shop_id,
        "organization_bin": route.merchant_account,
        "device_token": route.credentials.get(DEVICE_TOKEN) if secrets_allowed else None,
        "is_active": route.is_active,
        "provider": route.provider,
    }
    # Nothing between here and the client may keep a copy of a device token.
    return JsonResponse(body, headers={"Cache-Control": "no-store"})


async def payment_log(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_WRITE, legacy=True)
    raw = await read_body(request)

    async def run(_key: str | None) -> Response:
        body = Body.parse(raw, legacy=True)
        provider = body.string("provider", required=False, max_length=32) or KASPI
        if not _PROVIDER.match(provider):
            raise BadRequest("invalid_value", "provider must be a provider name such as 'kaspi'", field="provider")
        amount = body.number("amount", required=False)  # tenge, as Kaspi reported it
        entry = ClientLogEntry(
            shop_id=require_shop(principal, check_shop_id(body.integer("shop_id")), provider),
            provider=provider,
            organization_bin=body.string("organization_bin", max_length=12),  # type: ignore[arg-type]
            operation_type=_choice(body, "operation_type", OPERATIONS),
            outcome=LOG_OUTCOMES[_choice(body, "status", LOG_OUTCOMES)],
            external_id=_external_id(body, required=False),
            amount=None if amount is None else _log_amount(amount),
            error_message=body.string("error_message", required=False, max_length=MAX_ERROR_MESSAGE),
            actor=principal.name,
        )
        body.finish()
        recorded = await request.app.state.container.record_client_log().execute(entry)
        return ok(
            {
                "log": {
                    "shop_id": recorded.shop_id,
                    "organization_bin": recorded.organization_bin,
                    "operation_type": recorded.operation_type,
                    "external_id": recorded.external_id,
                    "amount": recorded.amount_minor,
                    "status": recorded.status.value,
                    "error_message": recorded.error_message,
                    "provider": recorded.provider,
                    "created_at": recorded.created_at.isoformat(),
                }
            },
            status=201,
        )

    return await run_idempotently(request, principal, raw, run)


async def payment_status(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_WRITE, legacy=True)
    body = Body.parse(await read_body(request), legacy=True)
    provider_status = _choice(body, "status", KASPI_STATUSES)
    report = StatusReport(
        shop_id=require_shop(principal, check_shop_id(body.integer("shop_id")), KASPI),
        provider=KASPI,
        external_id=_external_id(body, required=True),  # type: ignore[arg-type]
        status=KASPI_STATUSES[provider_status],
        provider_status=provider_status,
        error_message=body.string("error_message", required=False, max_length=MAX_ERROR_MESSAGE),
        actor=principal.name,
        shops=principal.shops,
    )
    body.finish()
    payment = await request.app.state.container.report_payment_status().execute(report)
    return ok({"shop_id": payment.shop_id, "external_id": payment.external_id, "status": payment.provider_status})


routes = [
    Route("/api/payment/config", payment_config, methods=["GET"]),
    Route("/api/payment/log", payment_log, methods=["POST"]),
    Route("/api/payment/status", payment_status, methods=["PATCH"]),
    Route("/api/health", health.health, methods=["GET"]),
]
