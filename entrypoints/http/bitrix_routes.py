"""The marketplace's Bitrix client calls (`/api/...`), kept exactly as the client sends and reads them.

The client fetches a shop's config to call Kaspi itself, logs what it did, and reports statuses
it saw. Statuses are Kaspi's words (`Wait`, `Processed`, `Error`...); a log entry's amount is
Kaspi's, in tenge (`100.00`), and is stored in tiyn like every other amount.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from decimal import Decimal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from domain.access import Scope
from domain.identifiers import check_shop_id
from domain.money import Money
from domain.seller_route import KASPI

from application.client_reports import ClientLogEntry, StatusReport
from application.errors import ShopInactive, ShopNotFound

from entrypoints.http import health
from entrypoints.http.admin_shapes import PROVIDER_PATTERN, ShopId
from entrypoints.http.auth import authorize, require_shop
from entrypoints.http.idempotency import run_idempotently
from entrypoints.http.json_body import BadRequest, decode, legacy_amount, legacy_integer, read_body
from entrypoints.http.legacy_shapes import (
    CLIENT_OPERATIONS,
    KASPI_ID_PATTERN,
    KASPI_STATUSES,
    LOG_OUTCOMES,
    ClientLog,
    ClientLogBody,
    ClientLogRecorded,
    Health,
    PaymentConfig,
    StatusReportBody,
    StatusReported,
)
from entrypoints.http.operations import (
    AUTH_ERRORS,
    BAD_INPUT,
    IDEMPOTENCY_HEADER,
    LEGACY_WRITE_ERRORS,
    Operation,
    error,
)
from entrypoints.http.responses import JsonResponse
from entrypoints.http.use_cases import use_cases

CURRENCY = "KZT"
DEVICE_TOKEN = "device_token"
_EXTERNAL_ID = re.compile(KASPI_ID_PATTERN)
_PROVIDER = re.compile(PROVIDER_PATTERN)


def _query_shop_id(request: Request) -> int:
    values = request.query_params.getlist("shop_id")
    if not values:
        raise BadRequest("missing_field", "shop_id is required", field="shop_id")
    raw = values[0]
    if len(values) > 1 or not (raw.isascii() and raw.isdigit() and len(raw) <= 19):
        raise BadRequest("invalid_value", "shop_id must be one positive integer", field="shop_id")
    return check_shop_id(int(raw))


def _choice(value: str, name: str, allowed: Collection[str]) -> str:
    if value not in allowed:
        raise BadRequest("invalid_value", f"{name} must be one of {sorted(allowed)}", field=name)
    return value


def _external_id(value: str) -> str:
    if not _EXTERNAL_ID.fullmatch(value):
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
    route = await use_cases(request).route_store.get(shop_id, KASPI)
    if route is None:
        raise ShopNotFound(shop_id, KASPI)
    if not route.is_active:
        # The client takes any config with `is_active` present as usable: a deactivated seller's
        # BIN must never reach it. On this refusal it uses its own fallback account.
        raise ShopInactive(shop_id, KASPI)
    secrets_allowed = principal.allows(Scope.ROUTE_SECRETS)
    config = PaymentConfig(
        shop_id=route.shop_id,
        organization_bin=route.merchant_account,
        device_token=route.credentials.get(DEVICE_TOKEN) if secrets_allowed else None,
        is_active=route.is_active,
        provider=route.provider,
    )
    # Nothing between here and the client may keep a copy of a device token.
    return JsonResponse(config, headers={"Cache-Control": "no-store"})


async def payment_log(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_WRITE, legacy=True)
    raw = await read_body(request)

    async def run(_key: str | None) -> Response:
        body, _ = decode(raw, ClientLogBody, legacy=True)
        provider = body.provider or KASPI
        if not _PROVIDER.fullmatch(provider):
            raise BadRequest("invalid_value", "provider must be a provider name such as 'kaspi'", field="provider")
        tenge = None if body.amount is None else legacy_amount(body.amount, "amount")  # as Kaspi reported it
        entry = ClientLogEntry(
            shop_id=require_shop(principal, check_shop_id(legacy_integer(body.shop_id, "shop_id")), provider),
            provider=provider,
            organization_bin=body.organization_bin,
            operation_type=_choice(body.operation_type, "operation_type", CLIENT_OPERATIONS),
            outcome=LOG_OUTCOMES[_choice(body.status, "status", LOG_OUTCOMES)],
            external_id=None if body.external_id is None else _external_id(body.external_id),
            amount=None if tenge is None else _log_amount(tenge),
            error_message=body.error_message,
            actor=principal.name,
        )
        recorded = await use_cases(request).record_client_log.execute(entry)
        log = ClientLog(
            shop_id=recorded.shop_id,
            organization_bin=recorded.organization_bin,
            operation_type=recorded.operation_type,
            external_id=recorded.external_id,
            amount=recorded.amount_minor,
            status=recorded.status,
            error_message=recorded.error_message,
            provider=recorded.provider,
            created_at=recorded.created_at.isoformat(),
        )
        return JsonResponse(ClientLogRecorded(log=log), status_code=201)

    return await run_idempotently(request, principal, raw, run)


async def payment_status(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_WRITE, legacy=True)
    body, _ = decode(await read_body(request), StatusReportBody, legacy=True)
    provider_status = _choice(body.status, "status", KASPI_STATUSES)
    report = StatusReport(
        shop_id=require_shop(principal, check_shop_id(legacy_integer(body.shop_id, "shop_id")), KASPI),
        provider=KASPI,
        external_id=_external_id(body.external_id),
        status=KASPI_STATUSES[provider_status],
        provider_status=provider_status,
        error_message=body.error_message,
        actor=principal.name,
        shops=principal.shops,
    )
    payment = await use_cases(request).report_payment_status.execute(report)
    reported = StatusReported(shop_id=payment.shop_id, external_id=payment.external_id, status=payment.provider_status)
    return JsonResponse(reported)


_SHOP_QUERY = {
    "name": "shop_id",
    "in": "query",
    "required": True,
    "schema": msgspec.json.schema(ShopId),
}

operations = [
    Operation(
        "GET", "/api/payment/config", payment_config,
        "A shop's Kaspi route for the Bitrix client (the device token needs `routes:secrets`)", PaymentConfig,
        parameters=[_SHOP_QUERY],
        responses={
            **AUTH_ERRORS,
            "403": error("`shop_inactive`: the route is deactivated (never a BIN to bill), or a missing scope"),
            "404": error("unknown shop (or one the key does not reach)"),
            "422": error("bad shop id"),
            "503": error("the stored credentials cannot be decrypted (SECRETS_KEY)"),
        },
    ),
    Operation(
        "POST", "/api/payment/log", payment_log, "Record the client's own operation in the audit log",
        ClientLogRecorded, status=201, body=ClientLogBody, parameters=[IDEMPOTENCY_HEADER],
        responses=LEGACY_WRITE_ERRORS,
    ),
    Operation(
        "PATCH", "/api/payment/status", payment_status,
        "Report a status the client saw; applied only once Kaspi confirms it", StatusReported, body=StatusReportBody,
        responses={
            **AUTH_ERRORS,
            **BAD_INPUT,
            "404": error("unknown shop or payment (or one the key does not reach)"),
            "409": error("`illegal_transition`, or `status_not_confirmed` by Kaspi: nothing changed"),
        },
    ),
    Operation(
        "GET", "/api/health", health.health, "Liveness, for the Bitrix client", Health, public=True,
        uses_database=False,
    ),
]
