"""The Kaspi endpoints the marketplace backend calls today; paths and JSON shapes kept as they were.

Amounts are tenge here (the legacy contract) and tiyn everywhere else.
"""

from __future__ import annotations

import re
from decimal import Decimal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.identifiers import check_shop_id
from domain.money import Money
from domain.payment import PaymentMethod
from domain.seller_route import KASPI

from application.create_payment import CreatePaymentCommand
from application.ports import ApiKey, Scope
from application.refund_payment import RefundCommand

from entrypoints.http.auth import authorize, is_legacy_caller, require_shop
from entrypoints.http.idempotency import HEADER as IDEMPOTENCY_HEADER
from entrypoints.http.idempotency import run_idempotently
from entrypoints.http.json_body import BadRequest, Body, read_body
from entrypoints.http.responses import ok

CURRENCY = "KZT"
_EXTERNAL_ID = re.compile(r"^[0-9]{1,20}$")


def _shop_id(body: Body, principal: ApiKey) -> int:
    return require_shop(principal, check_shop_id(body.integer("shop_id")), KASPI)


def _tenge(body: Body, name: str = "amount", *, required: bool = True) -> Money | None:
    amount = body.number(name, required=required)
    return None if amount is None else Money.from_major(amount, CURRENCY)


def _tenge_out(money: Money) -> int | Decimal:
    """Whole tenge as a JSON integer (as the proxy answers), otherwise the exact decimal."""
    return money.minor // 100 if money.minor % 100 == 0 else money.major


def _external_id(value: str | None, field: str = "external_id") -> str:
    if value is None or not _EXTERNAL_ID.match(value):
        raise BadRequest("invalid_value", "external_id must be Kaspi's numeric payment id", field=field)
    return value


async def create(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_WRITE, legacy=True)
    raw = await read_body(request)
    # The backend's keyless retries carry no Idempotency-Key: their content stands in for one.
    by_content = is_legacy_caller(principal) and IDEMPOTENCY_HEADER not in request.headers

    async def run(key: str | None) -> Response:
        body = Body.parse(raw, legacy=True)
        command = CreatePaymentCommand(
            shop_id=_shop_id(body, principal),
            provider=KASPI,
            method=PaymentMethod.REMOTE,
            amount=_tenge(body),  # type: ignore[arg-type]
            phone=body.string("phone", max_length=32),
            description=body.string("message", required=False) or "",
            idempotency_key=key,
            actor=principal.name,
        )
        body.finish()
        container = request.app.state.container
        if by_content:
            keys = container.implicit_idempotency_keys()
            command = await keys.keyed(command, caller=principal.id, also=body.ignored())
        payment = await container.create_payment().execute(command)
        return ok(
            {
                "external_id": payment.external_id,
                "status": payment.provider_status,
                "organization_bin": payment.merchant_account,
            }
        )

    return await run_idempotently(request, principal, raw, run)


async def create_link(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_WRITE)
    raw = await read_body(request)

    async def run(key: str | None) -> Response:
        body = Body.parse(raw, legacy=True)
        command = CreatePaymentCommand(
            shop_id=_shop_id(body, principal),
            provider=KASPI,
            method=PaymentMethod.LINK,
            amount=_tenge(body),  # type: ignore[arg-type]
            description=body.string("message", required=False) or "",
            idempotency_key=key,
            actor=principal.name,
        )
        body.finish()
        payment = await request.app.state.container.create_payment().execute(command)
        return ok(
            {
                "payment_id": payment.external_id,
                "payment_link": payment.payment_link,
                "expire_date": payment.expires_at.isoformat() if payment.expires_at else None,
                "organization_bin": payment.merchant_account,
            }
        )

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
    payment = await request.app.state.container.get_payment().by_external_id(
        KASPI, external_id, actor=principal.name, shops=principal.shops
    )
    return ok({"external_id": payment.external_id, "status": payment.provider_status})


async def refund(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_WRITE)
    raw = await read_body(request)

    async def run(key: str | None) -> Response:
        body = Body.parse(raw, legacy=True)
        command = RefundCommand(
            shop_id=_shop_id(body, principal),
            provider=KASPI,
            external_id=_external_id(body.string("external_id", max_length=20)),
            amount=_tenge(body),
            idempotency_key=key,
            actor=principal.name,
        )
        body.finish()
        result = await request.app.state.container.refund_payment().execute(command)
        return ok(
            {
                "external_id": result.payment.external_id,
                "refunded_amount": _tenge_out(result.refund.amount),
                "organization_bin": result.payment.merchant_account,
            }
        )

    return await run_idempotently(request, principal, raw, run)


routes = [
    Route("/payments/kaspi/create", create, methods=["POST"]),
    Route("/payments/kaspi/create-link", create_link, methods=["POST"]),
    Route("/payments/kaspi/status/{external_id}", status, methods=["GET"]),
    Route("/payments/kaspi/status", status, methods=["GET"]),
    Route("/payments/kaspi/refund", refund, methods=["POST"]),
]
