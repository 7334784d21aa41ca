"""What a Stripe PaymentIntent says beyond its status: the wallet that paid, and a declined attempt."""

from __future__ import annotations

from typing import Any

import pytest

from domain.payment import PaymentStatus

from application.ports import DeclinedAttempt

from adapters.providers.stripe import wire


def intent(status: str, **fields: Any) -> dict[str, Any]:
    return {"id": "pi_3Tulips", "object": "payment_intent", "status": status, "amount": 4900, "currency": "usd", **fields}


def charge(wallet: str | None, *, status: str = "succeeded") -> dict[str, Any]:
    """A Charge as `expand[]=latest_charge` gives it: `payment_method_details.card.wallet.type`."""
    return {
        "id": "ch_3Tulips",
        "object": "charge",
        "status": status,
        "payment_method_details": {"type": "card", "card": {"wallet": {"type": wallet, wallet: {}} if wallet else None}},
    }


def card_declined(**fields: Any) -> dict[str, Any]:
    """`last_payment_error` after a card decline (Stripe's API error object)."""
    return {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
        "charge": "ch_3Declined",
        **fields,
    }


@pytest.mark.parametrize(("status", "outcome"), [("succeeded", PaymentStatus.SUCCEEDED), ("requires_capture", PaymentStatus.AUTHORIZED)])
def test_the_wallet_that_paid_is_read_from_the_expanded_charge(status: str, outcome: PaymentStatus) -> None:
    observed = wire.read_payment_intent(intent(status, latest_charge=charge("apple_pay")))

    assert (observed.outcome, observed.wallet) == (outcome, "apple_pay")


def test_a_declined_charge_tells_no_wallet_that_paid() -> None:
    """The customer's Apple Pay card was declined: nothing was paid with it (they may pay by card next)."""
    observed = wire.read_payment_intent(
        intent("requires_payment_method", latest_charge=charge("apple_pay", status="failed"),
               last_payment_error=card_declined(charge="ch_3Tulips"))
    )

    assert (observed.outcome, observed.wallet) == (PaymentStatus.PENDING, None)


@pytest.mark.parametrize("wallet", ["", "Apple Pay", "x" * 65, "apple_pay;drop"])
def test_a_wallet_type_that_is_not_a_stripe_name_is_not_recorded(wallet: str) -> None:
    document = intent("succeeded", latest_charge=charge("apple_pay"))
    document["latest_charge"]["payment_method_details"]["card"]["wallet"] = {"type": wallet}

    assert wire.read_payment_intent(document).wallet is None


def test_a_declined_card_is_an_attempt_the_customer_may_retry() -> None:
    observed = wire.read_payment_intent(intent("requires_payment_method", last_payment_error=card_declined()))

    assert observed.outcome is PaymentStatus.PENDING
    assert observed.declined_attempt == DeclinedAttempt(
        "ch_3Declined", "card_declined", "Your card has insufficient funds. (insufficient_funds)"
    )
    assert observed.declined_attempt.message == (
        "attempt ch_3Declined declined: Your card has insufficient funds. (insufficient_funds)"
    )


def test_a_decline_without_its_charge_is_named_by_its_payment_method_or_not_at_all() -> None:
    by_method = wire.read_payment_intent(
        intent("requires_payment_method", last_payment_error=card_declined(charge=None, payment_method={"id": "pm_3Card"}))
    )
    unnamed = wire.read_payment_intent(
        intent("requires_payment_method", last_payment_error=card_declined(charge=None, decline_code=None))
    )

    assert by_method.declined_attempt is not None and by_method.declined_attempt.attempt_id == "pm_3Card"
    assert unnamed.declined_attempt is not None
    assert unnamed.declined_attempt.message == "declined: Your card has insufficient funds."


@pytest.mark.parametrize(
    "document",
    [
        intent("requires_payment_method"),  # not tried yet
        intent("requires_payment_method", last_payment_error=None),
        intent("requires_action"),  # Stripe cleared the error when the customer tried again
        intent("canceled", last_payment_error=card_declined()),  # closed: the cancellation says why
    ],
)
def test_no_decline_to_note_without_a_last_payment_error_on_a_payment_intent_waiting_for_a_card(
    document: dict[str, Any],
) -> None:
    assert wire.read_payment_intent(document).declined_attempt is None


def test_a_declines_words_are_bounded() -> None:
    observed = wire.read_payment_intent(
        intent("requires_payment_method", last_payment_error=card_declined(code="c" * 300, message="m" * 5000))
    )

    assert observed.declined_attempt is not None
    assert len(observed.declined_attempt.code) <= 100 and len(observed.declined_attempt.reason) <= 500
