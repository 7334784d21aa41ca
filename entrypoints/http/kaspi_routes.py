"""The Kaspi endpoints the marketplace backend calls today; paths and JSON shapes kept as they were.

Amounts are tenge here (the legacy contract) and tiyn everywhere else.
"""

from __future__ import annotations

import re
from decimal import Decimal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from domain.access import ApiKey, Scope
from domain.identifiers import check_shop_id
from domain.money import Money
from domain.payment import PaymentMethod
from domain.seller_route import KASPI

from application.create_payment import CreatePaymentCommand
from application.refund_payment import RefundCommand

from entrypoints.http.auth import authorize, is_legacy_caller, require_shop
from entrypoints.http.idempotency import HEADER as IDEMPOTENCY_HEADER
from entrypoints.http.idempotency import run_idempotently
from entrypoints.http.json_body import BadRequest, decode, legacy_amount, legacy_integer, read_body
from entrypoints.http.legacy_shapes import (
    KASPI_ID_PATTERN,
    KaspiCreateBody,
    KaspiCreated,
    KaspiCreateLinkBody,
    KaspiLinkCreated,
    KaspiPaymentId,
    KaspiRefundBody,
    KaspiRefunded,
    KaspiStatus,
    LegacyAmount,
    LegacyInteger,
)
from entrypoints.http.operations import AUTH_ERRORS, LEGACY_WRITE_ERRORS, PROVIDER_ERRORS, Operation, error
from entrypoints.http.operations import IDEMPOTENCY_HEADER as IDEMPOTENCY_PARAMETER
from entrypoints.http.responses import JsonResponse
from entrypoints.http.use_cases import use_cases

CURRENCY = "KZT"
_EXTERNAL_ID = re.compile(KASPI_ID_PATTERN)


def _shop_id(value: LegacyInteger, principal: ApiKey) -> int:
    return require_shop(principal, check_shop_id(legacy_integer(value, "shop_id")), KASPI)


def _tenge(value: LegacyAmount, name: str = "amount") -> Money:
    return Money.from_major(legacy_amount(value, name), CURRENCY)


def _tenge_out(money: Money) -> int | Decimal:
    """Whole tenge as a JSON integer (as the proxy answers), otherwise the exact decimal."""
    return money.minor // 100 if money.minor % 100 == 0 else money.major


def _external_id(value: str | None, field: str = "external_id") -> str:
    if value is None or not _EXTERNAL_ID.fullmatch(value):
        raise BadRequest("invalid_value", "external_id must be Kaspi's numeric payment id", field=field)
    return value


async def create(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_WRITE, legacy=True)
    raw = await read_body(request)
    # The backend's keyless retries carry no Idempotency-Key: their content stands in for one.
    by_content = is_legacy_caller(principal) and IDEMPOTENCY_HEADER not in request.headers

    async def run(key: str | None) -> Response:
        body, ignored = decode(raw, KaspiCreateBody, legacy=True)
        command = CreatePaymentCommand(
            shop_id=_shop_id(body.shop_id, principal),
            provider=KASPI,
            method=PaymentMethod.REMOTE,
            amount=_tenge(body.amount),
            phone=body.phone,
            description=body.message or "",
            idempotency_key=key,
            actor=principal.name,
        )
        cases = use_cases(request)
        if by_content:
            command = await cases.implicit_idempotency_keys.keyed(command, caller=principal.id, also=ignored)
        payment = await cases.create_payment.execute(command)
        return JsonResponse(KaspiCreated(payment.external_id, payment.provider_status, payment.merchant_account))

    return await run_idempotently(request, principal, raw, run)


async def create_link(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_WRITE)
    raw = await read_body(request)

    async def run(key: str | None) -> Response:
        body, _ = decode(raw, KaspiCreateLinkBody, legacy=True)
        command = CreatePaymentCommand(
            shop_id=_shop_id(body.shop_id, principal),
            provider=KASPI,
            method=PaymentMethod.LINK,
            amount=_tenge(body.amount),
            description=body.message or "",
            idempotency_key=key,
            actor=principal.name,
        )
        payment = await use_cases(request).create_payment.execute(command)
        expires = payment.expires_at.isoformat() if payment.expires_at else None
        created = KaspiLinkCreated(payment.external_id, payment.payment_link, expires, payment.merchant_account)
        return JsonResponse(created)

    return await run_idempotently(request, principal, raw, run)


async def status(request: Request) -> Response:
    """`/status/{external_id}`, or `/status?external_id=` as the marketplace backend asks."""
    principal = await authorize(request, Scope.PAYMENTS_READ, legacy=True)
    if "external_id" in request.path_params:
        external_id = _external_id(request.path_params["external_id"])
    else:
        values = request.query_params.getlist("external_id")
        if not values:
            raise BadRequest("missing_field", "external_id is required", field="external_id")
        external_id = _external_id(values[0] if len(values) == 1 else None)
    payment = await use_cases(request).get_payment.by_external_id(
        KASPI, external_id, actor=principal.name, shops=principal.shops
    )
    return JsonResponse(KaspiStatus(payment.external_id, payment.provider_status))


async def refund(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_WRITE)
    raw = await read_body(request)

    async def run(key: str | None) -> Response:
        body, _ = decode(raw, KaspiRefundBody, legacy=True)
        command = RefundCommand(
            shop_id=_shop_id(body.shop_id, principal),
            provider=KASPI,
            external_id=_external_id(body.external_id),
            amount=_tenge(body.amount),
            idempotency_key=key,
            actor=principal.name,
        )
        result = await use_cases(request).refund_payment.execute(command)
        payment = result.payment
        refunded = _tenge_out(result.refund.amount)
        return JsonResponse(KaspiRefunded(payment.external_id, refunded, payment.merchant_account))

    return await run_idempotently(request, principal, raw, run)


_EXTERNAL_ID_SCHEMA = msgspec.json.schema(KaspiPaymentId)
_WRITE_ANSWERS = {**LEGACY_WRITE_ERRORS, "403": error("inactive shop or missing scope"), **PROVIDER_ERRORS}

operations = [
    Operation(
        "POST", "/payments/kaspi/create", create, "Push a Kaspi bill to the customer's phone", KaspiCreated,
        body=KaspiCreateBody, parameters=[IDEMPOTENCY_PARAMETER], responses=_WRITE_ANSWERS,
    ),
    Operation(
        "POST", "/payments/kaspi/create-link", create_link, "Create a Kaspi payment link / QR", KaspiLinkCreated,
        body=KaspiCreateLinkBody, parameters=[IDEMPOTENCY_PARAMETER], responses=_WRITE_ANSWERS,
    ),
    Operation(
        "GET", "/payments/kaspi/status/{external_id}", status,
        "Status of a Kaspi payment, refreshed from Kaspi while pending", KaspiStatus,
        parameters=[{"name": "external_id", "in": "path", "required": True, "schema": _EXTERNAL_ID_SCHEMA}],
        responses={**AUTH_ERRORS, "404": error("unknown payment"), "422": error("invalid external id")},
    ),
    Operation(
        "GET", "/payments/kaspi/status", status,
        "Status of a Kaspi payment, as the marketplace backend asks for it (query form)", KaspiStatus,
        parameters=[{"name": "external_id", "in": "query", "required": True, "schema": _EXTERNAL_ID_SCHEMA}],
        responses={**AUTH_ERRORS, "404": error("unknown payment"), "422": error("missing or invalid external id")},
    ),
    Operation(
        "POST", "/payments/kaspi/refund", refund, "Refund a paid Kaspi payment, fully or in part", KaspiRefunded,
        body=KaspiRefundBody, parameters=[IDEMPOTENCY_PARAMETER], responses=_WRITE_ANSWERS,
    ),
]
