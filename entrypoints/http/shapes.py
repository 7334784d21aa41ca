"""The declared request bodies and resources of the HTTP API (msgspec `Struct`s).

A body is decoded by `json_body.decode(raw, Shape)`: msgspec checks types, lengths and (on /v1)
unknown fields; `json_body.refusal` turns its errors into our codes and fields. The old service's
paths declare theirs in `legacy_shapes.py`. The payment and refund resources extend the views
subscribers see (`application/payment_views.py`).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from application.payment_requests import MAX_DESCRIPTION, MAX_REFERENCE, MAX_URL
from application.payment_views import PaymentView, RefundView
from application.refund_payment import MAX_REASON

Currency = Annotated[str, msgspec.Meta(max_length=3, description="ISO 4217, such as KZT")]
ProviderName = Annotated[str, msgspec.Meta(max_length=32)]
MethodName = Annotated[str, msgspec.Meta(max_length=16)]
Description = Annotated[str, msgspec.Meta(max_length=MAX_DESCRIPTION)]
PhoneText = Annotated[str, msgspec.Meta(max_length=32)]
Reference = Annotated[str, msgspec.Meta(max_length=MAX_REFERENCE)]
Url = Annotated[str, msgspec.Meta(max_length=MAX_URL)]
MetadataValue = Annotated[str, msgspec.Meta(max_length=500)]


# --- /v1 request bodies ------------------------------------------------------------------------


class CreatePaymentBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    shop_id: int
    amount: Annotated[int, msgspec.Meta(description="minor units (tiyn, cents)")]
    currency: Currency
    provider: ProviderName | None = None
    method: MethodName | None = None
    description: Description | None = None
    phone: PhoneText | None = None
    order_id: Reference | None = None
    customer_id: Reference | None = None
    return_url: Url | None = None
    metadata: dict[str, MetadataValue] | None = None
    capture: bool | None = None


class RefundBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    amount: int | None = None
    reason: Annotated[str, msgspec.Meta(max_length=MAX_REASON)] | None = None


class NoOptions(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Capture and cancel take no options yet: anything sent is a mistake worth saying."""


# --- /v1 resources -----------------------------------------------------------------------------


class PaymentResource(PaymentView, frozen=True, kw_only=True):
    """The /v1 payment: what a subscriber sees (`PaymentView`) and what only the paying client may see —
    the next step of paying (`checkout_url`, `client_secret`, `payment_link` + `qr`), the signed links
    of `checkout_routes` (`qr_image_url`, `pay_url`) and the Stripe.js settings."""

    checkout_url: str | None
    client_secret: str | None
    payment_link: str | None
    qr: str | None
    qr_image_url: str | None
    pay_url: str | None
    publishable_key: str | None
    stripe_account: str | None


class RefundWithPayment(RefundView, frozen=True):
    payment: PaymentResource


class PaymentPage(msgspec.Struct, frozen=True):
    data: list[PaymentResource]
    next_cursor: str | None

