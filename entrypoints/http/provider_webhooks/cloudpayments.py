"""CloudPayments notifications: `POST /webhooks/cloudpayments/{kind}`, verified by Content-HMAC, answered `{"code": N}`.

The signature comes first: the body must be signed (Content-HMAC) with the API secret of one of the
CloudPayments routes, or it is refused with 400 before anything it names is looked up. Then the payment
is found by the notification's InvoiceId (our payment id) and must belong to a signing site's shop.
Check answers, under the payment's row lock, whether CloudPayments may take the money (0; 10 unknown
invoice, 12 wrong amount, 13 the payment takes no more money, 20 expired) and changes nothing. Pay,
Confirm and Cancel report a state the HMAC makes trustworthy: it is applied through the one
status-change path, once per TransactionId and kind. Fail is only a hint: the customer may try again
on the same order, so the latest transaction is fetched instead; a declined one leaves the payment
pending (`payment.attempt_failed`), and a late Fail of an earlier attempt never touches a payment a
later attempt paid. Refund changes nothing: a refund is recorded by the call that made it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from domain.errors import InvalidValue
from domain.money import Money
from domain.payment import Payment, PaymentStatus

from application.errors import PaymentNotFound
from application.get_payment import GetPayment
from application.ports import ProviderNotice, ProviderPayment

from adapters.logs import get_logger
from adapters.providers.cloudpayments import notifications
from adapters.providers.cloudpayments.notifications import Notification
from adapters.providers.cloudpayments.provider import API_SECRET, NAME

from entrypoints.http.json_body import BadRequest, read_body
from entrypoints.http.operations import JSON, Operation, error
from entrypoints.http.responses import JsonResponse
from entrypoints.http.use_cases import use_cases

log = get_logger("paygate.webhooks.cloudpayments")
# The codes CloudPayments understands, and that Paygate answers.
ANSWER_CODES = [
    notifications.ACCEPTED, notifications.UNKNOWN_INVOICE, notifications.WRONG_AMOUNT, notifications.REJECTED,
    notifications.EXPIRED,
]


class CloudPaymentsNotification(msgspec.Struct, frozen=True):
    """The fields of a CloudPayments notification that Paygate reads (https://developers.cloudpayments.ru,
    "Уведомления"), form-encoded or JSON; CloudPayments sends more (card, payer, `Data`), which are
    ignored. Read by the adapter (`adapters/providers/cloudpayments/notifications.py`) once the HMAC
    matches. Form fields arrive as text and JSON ones as numbers or text, so none is typed; none is
    required either: a notification without an InvoiceId of ours is answered 10."""

    TransactionId: Annotated[Any, msgspec.Meta(description="CloudPayments' transaction", examples=[504])] = None
    Amount: Annotated[Any, msgspec.Meta(description="major units, e.g. roubles", examples=["1500.50"])] = None
    Currency: Annotated[Any, msgspec.Meta(description="ISO 4217", examples=["RUB"])] = None
    InvoiceId: Annotated[
        Any, msgspec.Meta(description="the Paygate payment id; unknown or missing: code 10", examples=["pay_01JD8Z6Q"])
    ] = None
    Status: Annotated[
        Any, msgspec.Meta(description="the transaction's status (Check and Pay carry it)", examples=["Completed"])
    ] = None
    OperationType: Annotated[Any, msgspec.Meta(description="Payment or Refund", examples=["Payment"])] = None


class CloudPaymentsAnswer(msgspec.Struct, frozen=True):
    code: Annotated[
        int,
        msgspec.Meta(
            description="0 accepted; 10 unknown invoice, 12 wrong amount, 13 the payment takes no more money, "
            "20 expired",
            extra_json_schema={"enum": ANSWER_CODES},
        ),
    ]


async def notification(request: Request) -> Response:
    kind = request.path_params["kind"]
    if kind not in notifications.KINDS:
        raise BadRequest("not_found", f"notification kinds are {', '.join(notifications.KINDS)}", status=404)
    raw = await read_body(request, limit=notifications.MAX_BODY_BYTES)
    try:
        notice = notifications.parse(raw, request.headers.get("content-type"))
    except notifications.UnreadableNotification as unreadable:
        raise BadRequest("invalid_notification", str(unreadable), status=400) from None
    cases = use_cases(request)
    handler = cases.handle_provider_notice
    # The signature first: the sites whose API secret signed these bytes, before the invoice is looked up.
    signatures = [request.headers[name] for name in notifications.SIGNATURE_HEADERS if name in request.headers]
    signers = (
        await handler.signing_routes(
            NAME, lambda route: notifications.signature_valid(raw, route.credentials.get(API_SECRET) or "", signatures)
        )
        if signatures
        else []  # unsigned: refused without a query
    )
    if not signers:
        log.warning("cloudpayments notification refused: bad signature", kind=kind)
        raise BadRequest("invalid_signature", "the notification's Content-HMAC does not match", status=400)
    payment = await _payment(cases.get_payment, notice.invoice_id)
    if payment is None or payment.shop_id not in {route.shop_id for route in signers}:
        # Not one of ours, or not the signing site's: for that site the invoice does not exist.
        log.info("cloudpayments notification for an unknown invoice", kind=kind, invoice_id=notice.invoice_id)
        return _answer(notifications.UNKNOWN_INVOICE)
    if kind == notifications.CHECK:
        now = cases.clock.now()
        code = await handler.answer_under_lock(payment.id, lambda current: check_answer(current, notice, now))
        log.info("cloudpayments check answered", payment_id=payment.id, code=code)
        return _answer(code)
    if kind == notifications.REFUND:
        log.info("cloudpayments refund notified", payment_id=payment.id, transaction_id=notice.transaction_id)
        return _answer(notifications.ACCEPTED)
    if kind == notifications.PAY and not _same_amount(payment, notice):
        # Check refuses a wrong amount; money taken anyway is a case for an operator, never "succeeded".
        log.error("cloudpayments pay of a wrong amount", payment_id=payment.id, amount=str(notice.amount))
        return _answer(notifications.WRONG_AMOUNT)
    # Money taken for a payment closed here is recorded as a late success by the status path, never dropped.
    result = await handler.execute(
        ProviderNotice(
            provider=NAME,
            external_id=payment.external_id or payment.id,
            event_id=f"{notice.transaction_id}:{kind}" if notice.transaction_id else None,
            observed=_observed(kind, notice, payment),
        )
    )
    log.info("cloudpayments notification handled", kind=kind, payment_id=payment.id, result=str(result))
    return _answer(notifications.ACCEPTED)


async def _payment(get_payment: GetPayment, invoice_id: str | None) -> Payment | None:
    if not invoice_id:
        return None
    try:
        payment = await get_payment.by_id(invoice_id, refresh=False)
    except PaymentNotFound:
        return None
    return payment if payment.provider == NAME else None


def _observed(kind: str, notice: Notification, payment: Payment) -> ProviderPayment | None:
    outcome = notice.observed_outcome(kind)
    status = notice.status(kind)
    if kind == notifications.FAIL or outcome is None or status is None:
        return None  # a hint: the payment is re-fetched from CloudPayments
    return ProviderPayment(external_id=payment.external_id or payment.id, provider_status=status, outcome=outcome)


def check_answer(payment: Payment, notice: Notification, now: datetime) -> int:
    """May CloudPayments take this money? Nothing changes either way.

    A pending payment whose earlier attempts were declined takes a retry; one already paid takes no more.
    """
    if not _same_amount(payment, notice):
        return notifications.WRONG_AMOUNT
    if payment.status is PaymentStatus.EXPIRED or (
        payment.status is PaymentStatus.PENDING and payment.expires_at is not None and now >= payment.expires_at
    ):
        return notifications.EXPIRED
    # A payment whose creation was never confirmed to us (its answer was lost) has no link anybody was
    # given: money taken for it could not be followed, so it is refused.
    if payment.status is not PaymentStatus.PENDING or payment.external_id is None:
        return notifications.REJECTED
    return notifications.ACCEPTED


def _same_amount(payment: Payment, notice: Notification) -> bool:
    amount: Decimal | None = notice.amount
    currency = notice.currency or payment.amount.currency
    if amount is None:
        return False
    try:
        return Money.from_major(amount, currency) == payment.amount
    except InvalidValue:
        return False  # an unknown currency, or finer than a minor unit


def _answer(code: int) -> Response:
    return JsonResponse(CloudPaymentsAnswer(code))


operations = [
    Operation(
        "POST", "/webhooks/cloudpayments/{kind}", notification,
        "CloudPayments' notifications (Check, Pay, Fail, Confirm, Refund, Cancel), signed", CloudPaymentsAnswer,
        description=(
            "Authenticated by `Content-HMAC` or `X-Content-HMAC`: base64(HMAC-SHA256(raw body, API secret of "
            "one of the CloudPayments routes)), checked before anything the notification names is looked up. "
            "Answered as CloudPayments expects, `{\"code\": 0}` or a refusal code. Check changes nothing; a "
            "redelivered notification changes nothing."
        ),
        body=CloudPaymentsNotification,
        body_media=("application/x-www-form-urlencoded", JSON),
        public=True,
        parameters=[
            {"name": "kind", "in": "path", "required": True, "schema": {"enum": list(notifications.KINDS)}},
            {"name": "Content-HMAC", "in": "header", "required": False, "schema": {"type": "string"}},
        ],
        responses={
            "400": error("`invalid_signature` (forged, tampered or unsigned) or `invalid_notification`"),
            "404": error("not a notification kind"),
            "413": error("body too large"),
        },
    ),
]
