"""A payment and a refund as declared types (msgspec `Struct`s): what a subscriber may see.

`PaymentView` is what leaves Paygate for anyone but the paying client — event payloads (webhooks,
RabbitMQ, the outbox), the CLI, exports: amounts in minor units, the phone masked, no secret and no
link that pays. The /v1 resource (`entrypoints/http/shapes.PaymentResource`) is this type plus the
fields only the paying client may see, built by the same function (`render_payment`). A refund has
nothing of the kind: `RefundView` is the one refund type everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

import msgspec

from domain.errors import InvalidValue
from domain.identifiers import Phone
from domain.payment import REFUNDABLE, Payment
from domain.refund import Refund


class ErrorDetail(msgspec.Struct, frozen=True):
    code: str
    message: str | None


class RefundView(msgspec.Struct, frozen=True):
    id: str
    payment_id: str
    amount: int
    currency: str
    status: str
    external_id: str | None
    status_source: str | None
    status_observed_at: str | None
    reason: str | None
    error: ErrorDetail | None
    created_at: str | None
    updated_at: str | None


class RefundSummary(msgspec.Struct, frozen=True, omit_defaults=True):
    refunded: int
    pending: int
    refundable: int
    items: list[RefundView] | None = None  # only where one payment's refunds were read


class PaymentView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    shop_id: int
    provider: str
    method: str
    status: str
    provider_status: str | None
    amount: int
    currency: str
    capture: bool
    description: str
    phone: str | None  # masked: enough to recognise the number, never the number
    order_id: str | None
    customer_id: str | None
    metadata: dict[str, str]
    merchant_account: str | None
    external_id: str | None
    wallet: str | None  # the card wallet that paid (apple_pay, google_pay), when the provider tells it
    return_url: str | None
    expires_at: str | None
    refunds: RefundSummary
    status_source: str | None
    status_observed_at: str | None
    error: ErrorDetail | None
    created_at: str | None
    updated_at: str | None


P = TypeVar("P", bound=PaymentView)


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _error(code: str | None, message: str | None) -> ErrorDetail | None:
    return ErrorDetail(code, message) if code else None


def _masked_phone(phone: str | None) -> str | None:
    if not phone:
        return None
    try:
        return Phone(phone).masked()
    except InvalidValue:
        # Not one of ours to recognise: still never shown whole, and never a reason to lose an event.
        return "*" * max(len(phone) - 2, 0) + phone[-2:]


def refund_view(refund: Refund) -> RefundView:
    return RefundView(
        id=refund.id,
        payment_id=refund.payment_id,
        amount=refund.amount.minor,
        currency=refund.amount.currency,
        status=refund.status.value,
        external_id=refund.external_id,
        status_source=refund.status_source,
        status_observed_at=_time(refund.status_observed_at),
        reason=refund.reason,
        error=_error(refund.error_code, refund.error_message),
        created_at=_time(refund.created_at),
        updated_at=_time(refund.updated_at),
    )


def render_payment(
    shape: type[P], payment: Payment, refunds: Sequence[Refund] | None = None, **client_only: str | None
) -> P:
    """`payment` as `shape`: `PaymentView`, or a subclass adding the fields named in `client_only`
    (the /v1 resource). `refunds`: one payment's refund list, only where it was read."""
    assert payment.refunded is not None and payment.refund_reserved is not None
    return shape(
        id=payment.id,
        shop_id=payment.shop_id,
        provider=payment.provider,
        method=payment.method.value,
        status=payment.status.value,
        provider_status=payment.provider_status,
        amount=payment.amount.minor,
        currency=payment.amount.currency,
        capture=not payment.manual_capture,
        description=payment.description,
        phone=_masked_phone(payment.phone),
        order_id=payment.order_id,
        customer_id=payment.customer_id,
        metadata=dict(payment.metadata),
        merchant_account=payment.merchant_account,
        external_id=payment.external_id,
        wallet=payment.wallet,
        return_url=payment.return_url,
        expires_at=_time(payment.expires_at),
        refunds=RefundSummary(
            refunded=payment.refunded.minor,
            pending=payment.refund_reserved.minor,
            refundable=payment.refundable.minor if payment.status in REFUNDABLE else 0,
            items=None if refunds is None else [refund_view(r) for r in refunds],
        ),
        status_source=payment.status_source,
        status_observed_at=_time(payment.status_observed_at),
        error=_error(payment.error_code, payment.error_message),
        created_at=_time(payment.created_at),
        updated_at=_time(payment.updated_at),
        **client_only,
    )


def payment_view(payment: Payment, refunds: Sequence[Refund] | None = None) -> PaymentView:
    """What a subscriber may see of a payment: amounts in minor units, the phone masked, no secret or pay link."""
    return render_payment(PaymentView, payment, refunds)
