"""The provider-neutral payments API (/v1): one resource shape for every provider, amounts in minor units.

A payment resource carries what the client needs next, as its provider allows: a hosted page
(`checkout_url`), a secret for the browser (`client_secret`), a link (`payment_link`, plus `qr`, the
text to show as a QR code, when the link is one Kaspi's app scans).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from application.list_payments import DEFAULT_LIMIT, MAX_LIMIT
from application.payment_requests import MAX_DESCRIPTION, MAX_REFERENCE, MAX_URL, CreatePaymentCommand
from application.ports import ApiKey, Scope
from application.refund_payment import MAX_REASON, RefundCommand
from domain.identifiers import check_shop_id
from domain.money import Money
from domain.payment import REFUNDABLE, Payment, PaymentMethod
from domain.refund import Refund
from domain.seller_route import KASPI
from entrypoints.http.auth import authorize, require_shop
from entrypoints.http.idempotency import run_idempotently
from entrypoints.http.json_body import BadRequest, Body, read_body
from entrypoints.http.responses import JsonResponse

# Payment ids are ours (`pay_` + a ULID); anything else cannot name a payment.
_PAYMENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# Links Kaspi's app opens by scanning: shown as a QR code at a till or on a screen.
_KASPI_QR_LINK = "https://pay.kaspi.kz/"
_LIST_QUERY = frozenset({"order_id", "customer_id", "cursor", "limit"})


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def refund_view(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "payment_id": refund.payment_id,
        "amount": refund.amount.minor,
        "currency": refund.amount.currency,
        "status": refund.status.value,
        "external_id": refund.external_id,
        "status_source": refund.status_source,
        "status_observed_at": _iso(refund.status_observed_at),
        "reason": refund.reason,
        "error": {"code": refund.error_code, "message": refund.error_message} if refund.error_code else None,
        "created_at": _iso(refund.created_at),
        "updated_at": _iso(refund.updated_at),
    }


def payment_view(payment: Payment, refunds: Sequence[Refund] | None = None) -> dict[str, Any]:
    """The /v1 payment resource; `refunds` (one payment's refund list) only where it was read."""
    assert payment.refunded is not None and payment.refund_reserved is not None
    link = payment.payment_link
    summary: dict[str, Any] = {
        "refunded": payment.refunded.minor,
        "pending": payment.refund_reserved.minor,
        "refundable": payment.refundable.minor if payment.status in REFUNDABLE else 0,
    }
    if refunds is not None:
        summary["items"] = [refund_view(r) for r in refunds]
    return {
        "id": payment.id,
        "shop_id": payment.shop_id,
        "provider": payment.provider,
        "method": payment.method.value,
        "status": payment.status.value,
        "provider_status": payment.provider_status,
        "amount": payment.amount.minor,
        "currency": payment.amount.currency,
        "capture": not payment.manual_capture,
        "description": payment.description,
        "order_id": payment.order_id,
        "customer_id": payment.customer_id,
        "metadata": dict(payment.metadata),
        "merchant_account": payment.merchant_account,
        "external_id": payment.external_id,
        "checkout_url": payment.checkout_url,
        "client_secret": payment.client_secret,
        "payment_link": link,
        "qr": link if payment.provider == KASPI and link is not None and link.startswith(_KASPI_QR_LINK) else None,
        "return_url": payment.return_url,
        "expires_at": _iso(payment.expires_at),
        "refunds": summary,
        "status_source": payment.status_source,
        "status_observed_at": _iso(payment.status_observed_at),
        "error": {"code": payment.error_code, "message": payment.error_message} if payment.error_code else None,
        "created_at": _iso(payment.created_at),
        "updated_at": _iso(payment.updated_at),
    }


def _payment_id(request: Request) -> str:
    payment_id = request.path_params["payment_id"]
    if not _PAYMENT_ID.match(payment_id):
        raise BadRequest("invalid_value", "id must be a payment id such as pay_01J...", field="id")
    return payment_id


def _method(body: Body) -> PaymentMethod | None:
    value = body.string("method", required=False, max_length=16)
    if value is None:
        return None
    try:
        return PaymentMethod(value)
    except ValueError:
        choices = ", ".join(m.value for m in PaymentMethod)
        raise BadRequest("invalid_value", f"method must be one of {choices}", field="method") from None


def _money(body: Body) -> Money:
    currency = body.string("currency", max_length=3)
    assert currency is not None
    if not _CURRENCY.match(currency):
        raise BadRequest("invalid_value", "currency is an ISO 4217 code such as KZT", field="currency")
    minor = body.integer("amount")
    assert minor is not None
    return Money(minor, currency)


def _create_command(body: Body, principal: ApiKey, key: str | None) -> CreatePaymentCommand:
    provider = body.string("provider", required=False, max_length=32)
    shop_id = require_shop(principal, check_shop_id(body.integer("shop_id")), provider or "any")
    return CreatePaymentCommand(
        shop_id=shop_id,
        provider=provider,
        method=_method(body),
        amount=_money(body),
        description=body.string("description", required=False, max_length=MAX_DESCRIPTION) or "",
        phone=body.string("phone", required=False, max_length=32),
        order_id=body.string("order_id", required=False, max_length=MAX_REFERENCE),
        customer_id=body.string("customer_id", required=False, max_length=MAX_REFERENCE),
        return_url=body.string("return_url", required=False, max_length=MAX_URL),
        metadata=body.string_map("metadata", required=False) or {},
        manual_capture=body.boolean("capture", required=False) is False,
        idempotency_key=key,
        actor=principal.name,
    )


async def create_payment(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_WRITE)
    raw = await read_body(request)

    async def run(key: str | None) -> Response:
        body = Body.parse(raw)
        command = _create_command(body, principal, key)
        body.finish()
        payment = await request.app.state.container.create_payment().execute(command)
        return JsonResponse(payment_view(payment), status_code=201)

    return await run_idempotently(request, principal, raw, run)


async def get_payment(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_READ)
    container = request.app.state.container
    payment = await container.get_payment().by_id(_payment_id(request), actor=principal.name, shops=principal.shops)
    refunds = await container.list_payments().refunds_of(payment)
    return JsonResponse(payment_view(payment, refunds))


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 3 and 1 <= int(raw) <= MAX_LIMIT):
        raise BadRequest("invalid_value", f"limit must be an integer from 1 to {MAX_LIMIT}", field="limit")
    return int(raw)


async def list_payments(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_READ)
    query = request.query_params
    for name in query:
        if name not in _LIST_QUERY:
            raise BadRequest("unknown_field", f"unknown query parameter {name!r}", field=name)
    order_id, customer_id = query.get("order_id"), query.get("customer_id")
    if (order_id is None) == (customer_id is None):
        raise BadRequest("missing_field", "name exactly one of order_id or customer_id", field="order_id")
    listing = request.app.state.container.list_payments()
    if order_id is not None:
        for name in ("cursor", "limit"):
            if name in query:
                raise BadRequest("invalid_value", f"{name} pages a customer's history, not an order's", field=name)
        payments = await listing.for_order(order_id, shops=principal.shops)
        return JsonResponse({"data": [payment_view(p) for p in payments], "next_cursor": None})
    assert customer_id is not None
    page = await listing.for_customer(
        customer_id, shops=principal.shops, cursor=query.get("cursor"), limit=_limit(query.get("limit"))
    )
    return JsonResponse({"data": [payment_view(p) for p in page.payments], "next_cursor": page.next_cursor})


async def refund_payment(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_WRITE)
    payment_id = _payment_id(request)
    raw = await read_body(request)

    async def run(key: str | None) -> Response:
        body = Body.parse(raw)
        minor = body.integer("amount", required=False)
        reason = body.string("reason", required=False, max_length=MAX_REASON)
        body.finish()
        if minor is not None and minor < 1:
            raise BadRequest("invalid_value", "amount is a positive number of minor units", field="amount")
        container = request.app.state.container
        # The key's reach decides ownership: a payment of a shop it cannot reach does not exist for it.
        payment = await container.get_payment().by_id(payment_id, refresh=False, shops=principal.shops)
        command = RefundCommand(
            shop_id=payment.shop_id,
            provider=payment.provider,
            payment_id=payment.id,
            amount=None if minor is None else Money(minor, payment.amount.currency),
            idempotency_key=key,
            actor=principal.name,
            reason=reason or None,
        )
        result = await container.refund_payment().execute(command)
        refunds = await container.list_payments().refunds_of(result.payment)
        return JsonResponse({**refund_view(result.refund), "payment": payment_view(result.payment, refunds)}, status_code=201)

    return await run_idempotently(request, principal, raw, run)


async def _act(request: Request, use_case: Callable[[Any], Any]) -> Response:
    """Capture or cancel: `use_case` picks the use case from the container."""
    principal = await authorize(request, Scope.PAYMENTS_WRITE)
    payment_id = _payment_id(request)
    raw = await read_body(request)

    async def run(_key: str | None) -> Response:
        Body.parse(raw).finish()  # no options yet: anything sent is a mistake worth saying
        container = request.app.state.container
        payment = await use_case(container).execute(payment_id, shops=principal.shops, actor=principal.name)
        return JsonResponse(payment_view(payment, await container.list_payments().refunds_of(payment)))

    return await run_idempotently(request, principal, raw, run)


async def capture_payment(request: Request) -> Response:
    return await _act(request, lambda container: container.capture_payment())


async def cancel_payment(request: Request) -> Response:
    return await _act(request, lambda container: container.cancel_payment())


routes = [
    Route("/v1/payments", create_payment, methods=["POST"]),
    Route("/v1/payments", list_payments, methods=["GET"]),
    Route("/v1/payments/{payment_id}", get_payment, methods=["GET"]),
    Route("/v1/payments/{payment_id}/refunds", refund_payment, methods=["POST"]),
    Route("/v1/payments/{payment_id}/capture", capture_payment, methods=["POST"]),
    Route("/v1/payments/{payment_id}/cancel", cancel_payment, methods=["POST"]),
]
