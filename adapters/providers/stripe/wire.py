"""Stripe's shapes: the form parameters we send, the PaymentIntent and Refund objects we read, status mapping."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stripe.params import PaymentIntentCaptureParams, PaymentIntentCreateParams, RefundCreateParams

from domain.errors import DomainError
from domain.money import Money
from domain.payment import MONEY_TAKEN, PaymentMethod, PaymentStatus
from domain.refund import RefundStatus

from application.ports import DeclinedAttempt, PaymentRequest, ProviderPayment, ProviderRefund

# Our own metadata keys on every PaymentIntent and Refund, prefixed so a merchant's keys never clash.
PAYMENT_ID_KEY = "paygate_payment_id"
ORDER_ID_KEY = "paygate_order_id"
CUSTOMER_ID_KEY = "paygate_customer_id"
REFUND_ID_KEY = "paygate_refund_id"

_INTENT_ID = re.compile(r"pi_[A-Za-z0-9]{1,128}")
# A Charge's `payment_method_details.card.wallet.type` (apple_pay, google_pay, samsung_pay, link...).
_WALLET_TYPE = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Where a declined attempt lands: the PaymentIntent waits for another payment method.
DECLINED_STATUS = "requires_payment_method"
# What a declined attempt's words may take of the payment's error (its code column holds 100).
MAX_ID_CHARS = 255
MAX_CODE_CHARS = 100
MAX_REASON_CHARS = 500

_OUTCOMES: dict[str, PaymentStatus] = {
    # The customer has not paid yet. `requires_payment_method` is also where a declined attempt
    # lands: the customer can try another card, so a decline is not a final failure.
    "requires_payment_method": PaymentStatus.PENDING,
    "requires_confirmation": PaymentStatus.PENDING,
    "requires_action": PaymentStatus.PENDING,
    "processing": PaymentStatus.PENDING,
    "requires_capture": PaymentStatus.AUTHORIZED,
    "succeeded": PaymentStatus.SUCCEEDED,
    "canceled": PaymentStatus.CANCELLED,
}
# A Refund's statuses (Stripe's OpenAPI `refund.status`): `pending` and `requires_action` are
# still going; `failed` and `canceled` mean no money moved.
_REFUND_OUTCOMES: dict[str, RefundStatus] = {
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}


def refund_status(stripe_status: str) -> RefundStatus:
    """Our state for a Refund status; an unknown one stays pending (never guess a final state)."""
    return _REFUND_OUTCOMES.get(stripe_status, RefundStatus.PENDING)


def payment_status(stripe_status: str) -> PaymentStatus:
    """Our state for a PaymentIntent status; an unknown one stays pending (never guess a final state)."""
    return _OUTCOMES.get(stripe_status, PaymentStatus.PENDING)


class Unreadable(Exception):
    """Stripe answered 2xx with something that is not the object asked for: the outcome is unknown."""


# --- What we send -------------------------------------------------------------------------------------


def create_params(request: PaymentRequest) -> PaymentIntentCreateParams:
    """A PaymentIntent the browser confirms with its client secret: cards, Apple Pay, Google Pay."""
    metadata = {**request.metadata, PAYMENT_ID_KEY: request.payment_id}
    if request.order_id is not None:
        metadata[ORDER_ID_KEY] = request.order_id
    if request.customer_id is not None:
        metadata[CUSTOMER_ID_KEY] = request.customer_id
    params: PaymentIntentCreateParams = {
        "amount": request.amount.minor,
        "currency": request.amount.currency.lower(),
        "capture_method": "manual" if request.manual_capture else "automatic",
        "metadata": metadata,
    }
    # A wallet asks for the card type only: Apple Pay and Google Pay are cards to Stripe, and the
    # Payment Request button offers just the wallets; a card payment lets Stripe offer whatever the
    # connected account has turned on.
    if request.method is PaymentMethod.CARD:
        params["automatic_payment_methods"] = {"enabled": True}
    else:
        # `allowed_payment_method_types` in the API version stripe-python pins (16.x); Stripe answers
        # the compatible ones as the PaymentIntent's `payment_method_types`.
        params["allowed_payment_method_types"] = ["card"]
    if request.description:
        params["description"] = request.description
    return params


def capture_params(amount: Money) -> PaymentIntentCaptureParams:
    return {"amount_to_capture": amount.minor}


def refund_params(*, external_id: str, refund_id: str, amount: Money) -> RefundCreateParams:
    return {"payment_intent": external_id, "amount": amount.minor, "metadata": {REFUND_ID_KEY: refund_id}}


# --- What we read -------------------------------------------------------------------------------------


def read_payment_intent(
    data: Mapping[str, Any], *, expected_id: str | None = None, expected_amount: Money | None = None
) -> ProviderPayment:
    """Our view of a PaymentIntent object (an API answer or an event's `data.object`)."""
    if data.get("object") != "payment_intent":
        raise Unreadable("the answer is not a PaymentIntent")
    intent_id = data.get("id")
    status = data.get("status")
    if not isinstance(intent_id, str) or not _INTENT_ID.fullmatch(intent_id):
        raise Unreadable("the PaymentIntent has no readable id")
    if not isinstance(status, str) or not status:
        raise Unreadable("the PaymentIntent has no status")
    if expected_id is not None and intent_id != expected_id:
        raise Unreadable("Stripe answered about another PaymentIntent")
    if expected_amount is not None and (
        data.get("amount") != expected_amount.minor or data.get("currency") != expected_amount.currency.lower()
    ):
        # Only an earlier request under the same idempotency key could answer with another amount.
        raise Unreadable("the PaymentIntent is for another amount than the one asked for")
    client_secret = data.get("client_secret")
    outcome = payment_status(status)
    reason = data.get("cancellation_reason")
    return ProviderPayment(
        external_id=intent_id,
        provider_status=status,
        outcome=outcome,
        client_secret=client_secret if isinstance(client_secret, str) and client_secret else None,
        # Why it was cancelled: requested_by_customer, abandoned, `automatic` (an uncaptured hold expired)...
        failure_reason=(
            f"cancelled: {reason}"
            if outcome is PaymentStatus.CANCELLED and isinstance(reason, str) and reason
            else None
        ),
        amount=_intent_amount(data),
        wallet=_wallet(data) if outcome in MONEY_TAKEN else None,
        declined_attempt=_declined_attempt(data) if status == DECLINED_STATUS else None,
    )


def names_charge_by_id(data: Mapping[str, Any]) -> bool:
    """Whether the PaymentIntent names its latest Charge by id only (as in every event), not expanded."""
    return isinstance(data.get("latest_charge"), str)


def _wallet(data: Mapping[str, Any]) -> str | None:
    """The card wallet that paid (`apple_pay`, `google_pay`...), from an expanded `latest_charge`; an
    event's is only the Charge id. Read only once money is taken: a declined attempt's Charge tells the
    wallet of a card that did not pay."""
    charge = data.get("latest_charge")
    details = charge.get("payment_method_details") if isinstance(charge, Mapping) else None
    card = details.get("card") if isinstance(details, Mapping) else None
    wallet = card.get("wallet") if isinstance(card, Mapping) else None
    kind = wallet.get("type") if isinstance(wallet, Mapping) else None
    return kind if isinstance(kind, str) and _WALLET_TYPE.fullmatch(kind) else None


def _declined_attempt(data: Mapping[str, Any]) -> DeclinedAttempt | None:
    """The customer's last attempt, declined, with the PaymentIntent back at `requires_payment_method`:
    the customer may try another card. `last_payment_error` (Stripe's API error object: `code`,
    `decline_code`, `message`, `charge` — the failed Charge — and `payment_method`) says why; Stripe
    clears it when the PaymentIntent changes again."""
    error = data.get("last_payment_error")
    if not isinstance(error, Mapping):
        return None
    code = _text(error.get("code")) or _text(error.get("type")) or "payment_failed"
    message = _text(error.get("message")) or "the payment method was declined"
    decline_code = _text(error.get("decline_code"))
    reason = f"{message} ({decline_code})" if decline_code and decline_code != code else message
    method = error.get("payment_method")
    attempt = _text(error.get("charge")) or (_text(method.get("id")) if isinstance(method, Mapping) else None)
    return DeclinedAttempt(
        attempt[:MAX_ID_CHARS] if attempt else None, code[:MAX_CODE_CHARS], reason[:MAX_REASON_CHARS]
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _intent_amount(data: Mapping[str, Any]) -> Money | None:
    """The PaymentIntent's amount (integer minor units, a lower-case currency); None when unreadable."""
    amount, currency = data.get("amount"), data.get("currency")
    if type(amount) is not int or not isinstance(currency, str):
        return None
    try:
        return Money(amount, currency.upper())
    except DomainError:
        return None


def read_refund(data: Mapping[str, Any]) -> ProviderRefund:
    """Our view of a Refund object (an API answer, a list item or an event's `data.object`)."""
    refund_id = data.get("id")
    status = data.get("status")
    if data.get("object") != "refund" or not isinstance(refund_id, str) or not refund_id.startswith("re_"):
        raise Unreadable("the answer is not a Refund")
    if not isinstance(status, str) or not status:
        raise Unreadable("the Refund has no status")
    outcome = refund_status(status)
    # `failure_reason` is present only on a failed refund (lost_or_stolen_card, expired_or_canceled_card...).
    reason = data.get("failure_reason")
    explained = f": {reason}" if isinstance(reason, str) and reason else ""
    failed = outcome is RefundStatus.FAILED
    return ProviderRefund(
        external_id=refund_id,
        status=outcome,
        provider_status=status,
        failure_code=f"refund_{status}" if failed else None,
        failure_reason=f"Stripe reports the refund {status}{explained}" if failed else None,
    )


def refund_paygate_id(data: Mapping[str, Any]) -> str | None:
    """Our refund id from a Refund's metadata."""
    metadata = data.get("metadata")
    ours = metadata.get(REFUND_ID_KEY) if isinstance(metadata, Mapping) else None
    return ours if isinstance(ours, str) and ours else None


def read_refund_list(data: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]], bool]:
    """`GET /v1/refunds`: the page's Refund objects and `has_more`."""
    items = data.get("data")
    if data.get("object") != "list" or not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise Unreadable("the answer is not a list of Refunds")
    return items, data.get("has_more") is True
