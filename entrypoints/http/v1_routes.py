"""The provider-neutral payments API (/v1): one resource shape for every provider, amounts in minor units.

A payment resource carries what the client needs next, as its provider allows: a hosted page
(`checkout_url`), a secret for the browser (`client_secret`), a link (`payment_link`, plus `qr`, the
text to show as a QR code, when the link is one Kaspi's app scans), and signed links a browser opens
without a key (`qr_image_url`, `pay_url`: `checkout_routes.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from domain.access import ApiKey, Scope
from domain.identifiers import check_shop_id
from domain.money import Money
from domain.payment import Payment, PaymentMethod
from domain.refund import Refund

from application.cancel_payment import CancelPayment
from application.capture_payment import CapturePayment
from application.list_payments import DEFAULT_LIMIT, MAX_LIMIT
from application.payment_requests import CreatePaymentCommand
from application.payment_views import refund_view, render_payment
from application.refund_payment import RefundCommand

from entrypoints.http.auth import authorize, require_shop
from entrypoints.http.checkout_routes import checkout_links, kaspi_qr_link
from entrypoints.http.idempotency import run_idempotently
from entrypoints.http.json_body import BadRequest, decode, read_body
from entrypoints.http.operations import (
    AUTH_ERRORS,
    BAD_INPUT,
    BUSY,
    IDEMPOTENCY_HEADER,
    PROVIDER_ERRORS,
    Handler,
    Operation,
    error,
)
from entrypoints.http.responses import JsonResponse
from entrypoints.http.shapes import (
    CreatePaymentBody,
    NoOptions,
    PaymentPage,
    PaymentResource,
    RefundBody,
    RefundWithPayment,
)
from entrypoints.http.use_cases import UseCases, use_cases

# Payment ids are ours (`pay_` + a ULID); anything else cannot name a payment.
_PAYMENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_LIST_QUERY = frozenset({"order_id", "customer_id", "cursor", "limit"})


def _resource(request: Request, payment: Payment, refunds: Sequence[Refund] | None = None) -> PaymentResource:
    """The resource as this API serves it: what a subscriber sees, and what only the paying client may
    (the signed links and Stripe.js settings of `checkout_links`). `refunds`: only where they were read."""
    cases = use_cases(request)
    links = checkout_links(cases.checkout_tokens, payment, cases.settings.stripe_publishable_key)
    return render_payment(
        PaymentResource, payment, refunds,
        checkout_url=payment.checkout_url,
        client_secret=payment.client_secret,
        payment_link=payment.payment_link,
        qr=kaspi_qr_link(payment),
        **links,
    )


def _payment_id(request: Request) -> str:
    payment_id: str = request.path_params["payment_id"]
    if not _PAYMENT_ID.fullmatch(payment_id):
        raise BadRequest("invalid_value", "id must be a payment id such as pay_01J...", field="id")
    return payment_id


def _method(value: str | None) -> PaymentMethod | None:
    if value is None:
        return None
    try:
        return PaymentMethod(value)
    except ValueError:
        choices = ", ".join(m.value for m in PaymentMethod)
        raise BadRequest("invalid_value", f"method must be one of {choices}", field="method") from None


def _money(body: CreatePaymentBody) -> Money:
    if not _CURRENCY.fullmatch(body.currency):
        raise BadRequest("invalid_value", "currency is an ISO 4217 code such as KZT", field="currency")
    return Money(body.amount, body.currency)


def _create_command(body: CreatePaymentBody, principal: ApiKey, key: str | None) -> CreatePaymentCommand:
    shop_id = require_shop(principal, check_shop_id(body.shop_id), body.provider or "any")
    return CreatePaymentCommand(
        shop_id=shop_id,
        provider=body.provider,
        method=_method(body.method),
        amount=_money(body),
        description=body.description or "",
        phone=body.phone,
        order_id=body.order_id,
        customer_id=body.customer_id,
        return_url=body.return_url,
        metadata=body.metadata or {},
        manual_capture=body.capture is False,
        idempotency_key=key,
        actor=principal.name,
    )


async def create_payment(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_WRITE)
    raw = await read_body(request)

    async def run(key: str | None) -> Response:
        body, _ = decode(raw, CreatePaymentBody)
        payment = await use_cases(request).create_payment.execute(_create_command(body, principal, key))
        return JsonResponse(_resource(request, payment), status_code=201)

    return await run_idempotently(request, principal, raw, run)


async def get_payment(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_READ)
    cases = use_cases(request)
    payment = await cases.get_payment.by_id(_payment_id(request), actor=principal.name, shops=principal.shops)
    refunds = await cases.list_payments.refunds_of(payment)
    return JsonResponse(_resource(request, payment, refunds))


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
    listing = use_cases(request).list_payments
    if order_id is not None:
        for name in ("cursor", "limit"):
            if name in query:
                raise BadRequest("invalid_value", f"{name} pages a customer's history, not an order's", field=name)
        payments = await listing.for_order(order_id, shops=principal.shops)
        return JsonResponse(PaymentPage([_resource(request, p) for p in payments], None))
    assert customer_id is not None
    page = await listing.for_customer(
        customer_id, shops=principal.shops, cursor=query.get("cursor"), limit=_limit(query.get("limit"))
    )
    return JsonResponse(PaymentPage([_resource(request, p) for p in page.payments], page.next_cursor))


async def refund_payment(request: Request) -> Response:
    principal = await authorize(request, Scope.PAYMENTS_WRITE)
    payment_id = _payment_id(request)
    raw = await read_body(request)

    async def run(key: str | None) -> Response:
        body, _ = decode(raw, RefundBody)
        minor, reason = body.amount, body.reason
        if minor is not None and minor < 1:
            raise BadRequest("invalid_value", "amount is a positive number of minor units", field="amount")
        cases = use_cases(request)
        # The key's reach decides ownership: a payment of a shop it cannot reach does not exist for it.
        payment = await cases.get_payment.by_id(payment_id, refresh=False, shops=principal.shops)
        command = RefundCommand(
            shop_id=payment.shop_id,
            provider=payment.provider,
            payment_id=payment.id,
            amount=None if minor is None else Money(minor, payment.amount.currency),
            idempotency_key=key,
            actor=principal.name,
            reason=reason or None,
        )
        result = await cases.refund_payment.execute(command)
        refunds = await cases.list_payments.refunds_of(result.payment)
        resource = refund_view(result.refund)
        after = _resource(request, result.payment, refunds)
        answer = RefundWithPayment(**msgspec.structs.asdict(resource), payment=after)
        return JsonResponse(answer, status_code=201)

    return await run_idempotently(request, principal, raw, run)


async def _act(request: Request, use_case: Callable[[UseCases], CapturePayment | CancelPayment]) -> Response:
    """Capture or cancel: `use_case` picks the use case from the bundle."""
    principal = await authorize(request, Scope.PAYMENTS_WRITE)
    payment_id = _payment_id(request)
    raw = await read_body(request)

    async def run(_key: str | None) -> Response:
        decode(raw, NoOptions)
        cases = use_cases(request)
        payment = await use_case(cases).execute(payment_id, shops=principal.shops, actor=principal.name)
        return JsonResponse(_resource(request, payment, await cases.list_payments.refunds_of(payment)))

    return await run_idempotently(request, principal, raw, run)


async def capture_payment(request: Request) -> Response:
    return await _act(request, lambda cases: cases.capture_payment)


async def cancel_payment(request: Request) -> Response:
    return await _act(request, lambda cases: cases.cancel_payment)


_PAYMENT_PATH = {
    "name": "payment_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "example": "pay_01JD8X3V6Q4ZK0M5N2R7T9W1YB"},
}
_REFERENCE_QUERY = {"type": "string", "minLength": 1, "maxLength": 128}
_LIST_PARAMETERS = [
    {"name": "order_id", "in": "query", "required": False, "schema": _REFERENCE_QUERY},
    {"name": "customer_id", "in": "query", "required": False, "schema": _REFERENCE_QUERY},
    {"name": "cursor", "in": "query", "required": False, "schema": _PAYMENT_PATH["schema"]},
    {"name": "limit", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
]
_WRITE_ANSWERS = {
    **AUTH_ERRORS,
    **BAD_INPUT,
    "402": error("the provider declined; `error.reference` names the failed payment or refund"),
    "404": error("unknown shop or payment (another shop's payment does not exist for a restricted key)"),
    "409": error("conflict (see the code)"),
    "422": error("invalid field, or the provider cannot do this (capability_not_supported)"),
    **PROVIDER_ERRORS,
    **BUSY,
}


def _write(method: str, path: str, handler: Handler, summary: str, body: type[msgspec.Struct],
           answer: type[msgspec.Struct], *, status: int = 200, body_required: bool = True) -> Operation:
    parameters = [IDEMPOTENCY_HEADER] if "{" not in path else [_PAYMENT_PATH, IDEMPOTENCY_HEADER]
    return Operation(method, path, handler, summary, answer, status=status, body=body, body_required=body_required,
                     parameters=parameters, responses=_WRITE_ANSWERS)


operations = [
    _write("POST", "/v1/payments", create_payment, "Create a payment at the shop's provider",
           CreatePaymentBody, PaymentResource, status=201),
    Operation(
        "GET", "/v1/payments", list_payments,
        "Payments of an order, or a customer's payments page by page (newest first)", PaymentPage,
        description="Name exactly one of `order_id` or `customer_id`; `cursor` and `limit` page a customer's history.",
        parameters=_LIST_PARAMETERS,
        responses={**AUTH_ERRORS, "422": error("bad query"), **BUSY},
    ),
    Operation(
        "GET", "/v1/payments/{payment_id}", get_payment, "One payment, refreshed from its provider while open",
        PaymentResource, parameters=[_PAYMENT_PATH],
        responses={
            **AUTH_ERRORS,
            "404": error("unknown payment"),
            "409": error("changed by another request while refreshing: retry"),
            "422": error("bad id"),
            **BUSY,
        },
    ),
    _write("POST", "/v1/payments/{payment_id}/refunds", refund_payment, "Refund a paid payment, fully or in part",
           RefundBody, RefundWithPayment, status=201),
    _write("POST", "/v1/payments/{payment_id}/capture", capture_payment, "Capture an authorised two-step payment",
           NoOptions, PaymentResource, body_required=False),
    _write("POST", "/v1/payments/{payment_id}/cancel", cancel_payment, "Cancel an open payment",
           NoOptions, PaymentResource, body_required=False),
]
