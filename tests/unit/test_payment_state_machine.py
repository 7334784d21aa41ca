"""The payment state machine and its refund arithmetic: what may follow what, and never refunding more than was paid."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import (
    CurrencyMismatch,
    DomainError,
    IllegalTransition,
    InvalidValue,
    PaymentNotRefundable,
    RefundExceedsRemaining,
)
from domain.money import Money
from domain.payment import Payment, PaymentMethod, PaymentStatus, can_transition
from domain.refund import Refund, RefundStatus

AT = datetime(2025, 10, 22, 12, 0, tzinfo=UTC)
LATER = AT + timedelta(minutes=5)
S = PaymentStatus

# Written out independently of the module's own table, so a change to either shows up here.
LEGAL = {
    (S.PENDING, S.AUTHORIZED),
    (S.AUTHORIZED, S.SUCCEEDED),
    (S.AUTHORIZED, S.FAILED),
    (S.AUTHORIZED, S.CANCELLED),
    (S.AUTHORIZED, S.EXPIRED),
    (S.PENDING, S.SUCCEEDED),
    (S.PENDING, S.FAILED),
    (S.PENDING, S.CANCELLED),
    (S.PENDING, S.EXPIRED),
    (S.SUCCEEDED, S.PARTIALLY_REFUNDED),
    (S.SUCCEEDED, S.REFUNDED),
    (S.PARTIALLY_REFUNDED, S.PARTIALLY_REFUNDED),
    (S.PARTIALLY_REFUNDED, S.REFUNDED),
}
ALL_PAIRS = [(a, b) for a in S for b in S]
# What a provider's answer may move an open (pending or authorized) payment to.
OPEN_MOVES = {(a, b) for a, b in LEGAL if a in (S.PENDING, S.AUTHORIZED)}
SETTLED = [S.AUTHORIZED, S.SUCCEEDED, S.FAILED, S.CANCELLED, S.EXPIRED]


def kzt(minor: int) -> Money:
    return Money(minor, "KZT")


def a_payment(status: PaymentStatus = S.PENDING, *, amount: int = 10000, refunded: int = 0) -> Payment:
    return Payment(
        id="pay_1",
        shop_id=121038,
        provider="kaspi",
        method=PaymentMethod.REMOTE,
        amount=kzt(amount),
        merchant_account="920317450731",
        description="roses",
        created_at=AT,
        updated_at=AT,
        status=status,
        refunded=kzt(refunded),
        external_id=None if status is S.PENDING else "12800627774",
    )


def a_paid_payment(amount: int = 10000) -> Payment:
    return a_payment(S.SUCCEEDED, amount=amount)


def state(payment: Payment) -> dict[str, object]:
    return attrs.asdict(payment, recurse=False)


@pytest.mark.parametrize(("current", "requested"), ALL_PAIRS)
def test_the_transition_table_allows_exactly_the_legal_moves(current: PaymentStatus, requested: PaymentStatus) -> None:
    assert can_transition(current, requested) is ((current, requested) in LEGAL)


@pytest.mark.parametrize("outcome", SETTLED)
def test_a_pending_payment_settles_into_any_outcome(outcome: PaymentStatus) -> None:
    payment = a_payment()
    assert payment.settle(outcome, provider_status="X", at=LATER) is True
    assert payment.status is outcome
    assert payment.provider_status == "X"
    assert payment.updated_at == LATER


def test_settling_into_the_same_status_changes_nothing_but_the_provider_status() -> None:
    payment = a_payment()
    assert payment.settle(S.PENDING, provider_status="Wait", at=LATER) is False
    assert payment.status is S.PENDING
    assert payment.provider_status == "Wait"
    assert payment.updated_at == AT


@pytest.mark.parametrize(
    ("current", "outcome"),
    [(a, b) for a, b in ALL_PAIRS if a is not b and (a, b) not in OPEN_MOVES],
)
def test_only_an_open_payment_settles_and_only_into_an_outcome(
    current: PaymentStatus, outcome: PaymentStatus
) -> None:
    refunded = {S.REFUNDED: 10000, S.PARTIALLY_REFUNDED: 5000}.get(current, 0)
    payment = a_payment(current, refunded=refunded)
    before = state(payment)
    with pytest.raises(IllegalTransition) as refused:
        payment.settle(outcome, provider_status="Processed", at=LATER)
    assert (refused.value.payment_id, refused.value.current, refused.value.requested) == (
        "pay_1", current.value, outcome.value,
    )
    assert state(payment) == before  # a refusal changes nothing


def test_settling_cannot_mark_a_paid_payment_refunded_behind_the_refund_accounting() -> None:
    payment = a_paid_payment()
    with pytest.raises(IllegalTransition):
        payment.settle(S.REFUNDED, provider_status=None, at=LATER)
    assert payment.refunded == kzt(0)
    assert payment.status is S.SUCCEEDED


def test_a_failure_records_the_providers_reason() -> None:
    payment = a_payment()
    payment.settle(S.FAILED, provider_status="Error", at=LATER, error_code="-1501", error_message="device not found")
    assert (payment.error_code, payment.error_message) == ("-1501", "device not found")


def test_a_success_clears_the_note_of_an_earlier_unanswered_attempt() -> None:
    payment = a_payment()
    payment.note_unknown_outcome("provider_outcome_unknown", "timeout", LATER)
    payment.settle(S.SUCCEEDED, provider_status="Processed", at=LATER)
    assert (payment.error_code, payment.error_message) == (None, None)


def test_an_unknown_outcome_keeps_the_payment_pending_with_the_attempt_noted() -> None:
    payment = a_payment()
    payment.note_unknown_outcome("provider_outcome_unknown", "read timeout", LATER)
    assert payment.status is S.PENDING
    assert (payment.error_code, payment.error_message, payment.updated_at) == (
        "provider_outcome_unknown", "read timeout", LATER,
    )


def test_provider_acceptance_names_the_payment_and_keeps_it_pending() -> None:
    payment = a_payment()
    expires = AT + timedelta(hours=24)
    payment.record_provider_acceptance(external_id="12800627774", provider_status="Wait", at=LATER, expires_at=expires)
    assert (payment.status, payment.external_id, payment.provider_status, payment.expires_at) == (
        S.PENDING, "12800627774", "Wait", expires,
    )


@pytest.mark.parametrize(
    ("status", "final"),
    [(S.PENDING, False), (S.SUCCEEDED, False), (S.PARTIALLY_REFUNDED, False), (S.FAILED, True),
     (S.CANCELLED, True), (S.EXPIRED, True), (S.REFUNDED, True)],
)
def test_final_statuses_are_those_nothing_can_follow(status: PaymentStatus, final: bool) -> None:
    assert a_payment(status).is_final is final


@pytest.mark.parametrize("status", [S.PENDING, S.FAILED, S.CANCELLED, S.EXPIRED, S.REFUNDED])
def test_only_a_paid_payment_can_reserve_a_refund(status: PaymentStatus) -> None:
    payment = a_payment(status, refunded=10000 if status is S.REFUNDED else 0)
    with pytest.raises(PaymentNotRefundable) as refused:
        payment.reserve_refund(kzt(100), LATER)
    assert refused.value.status == status.value
    assert payment.refund_reserved == kzt(0)


def test_a_reservation_holds_the_amount_against_what_is_refundable() -> None:
    payment = a_paid_payment()
    payment.reserve_refund(kzt(3000), LATER)
    assert (payment.refund_reserved, payment.refundable, payment.status) == (kzt(3000), kzt(7000), S.SUCCEEDED)


def test_a_reservation_beyond_what_remains_is_refused_with_the_numbers() -> None:
    payment = a_paid_payment()
    payment.reserve_refund(kzt(6000), LATER)
    with pytest.raises(RefundExceedsRemaining) as refused:
        payment.reserve_refund(kzt(4001), LATER)
    assert (refused.value.requested_minor, refused.value.remaining_minor) == (4001, 4000)
    assert payment.refund_reserved == kzt(6000)


def test_a_zero_refund_is_refused() -> None:
    with pytest.raises(RefundExceedsRemaining):
        a_paid_payment().reserve_refund(kzt(0), LATER)


def test_a_refund_in_another_currency_is_refused() -> None:
    with pytest.raises(CurrencyMismatch):
        a_paid_payment().reserve_refund(Money(100, "USD"), LATER)


def test_completing_part_of_the_payment_makes_it_partially_refunded() -> None:
    payment = a_paid_payment()
    payment.reserve_refund(kzt(5000), LATER)
    payment.complete_refund(kzt(5000), LATER)
    assert (payment.status, payment.refunded, payment.refund_reserved) == (S.PARTIALLY_REFUNDED, kzt(5000), kzt(0))


def test_two_halves_refund_the_payment_fully_as_kaspi_allows() -> None:
    payment = a_paid_payment()
    for _ in range(2):
        payment.reserve_refund(kzt(5000), LATER)
        payment.complete_refund(kzt(5000), LATER)
    assert (payment.status, payment.refunded, payment.refundable) == (S.REFUNDED, kzt(10000), kzt(0))
    with pytest.raises(PaymentNotRefundable):
        payment.reserve_refund(kzt(1), LATER)


def test_releasing_a_refused_refund_gives_the_reservation_back() -> None:
    payment = a_paid_payment()
    payment.reserve_refund(kzt(4000), LATER)
    payment.release_refund(kzt(4000), LATER)
    assert (payment.status, payment.refund_reserved, payment.refundable) == (S.SUCCEEDED, kzt(0), kzt(10000))


@pytest.mark.parametrize("operation", ["complete_refund", "release_refund"])
@pytest.mark.parametrize("minor", [0, 3001])
def test_completing_or_releasing_more_than_was_reserved_or_nothing_is_refused_and_changes_nothing(
    operation: str, minor: int
) -> None:
    payment = a_paid_payment()
    payment.reserve_refund(kzt(3000), LATER)
    before = state(payment)
    with pytest.raises(InvalidValue):
        getattr(payment, operation)(kzt(minor), LATER)
    assert state(payment) == before


def test_a_refund_completes_or_fails_once() -> None:
    refund = Refund(id="re_1", payment_id="pay_1", shop_id=121038, amount=kzt(100), created_at=AT, updated_at=AT)
    refund.note_unknown_outcome("provider_outcome_unknown", "timeout", LATER)
    assert refund.status is RefundStatus.PENDING
    refund.succeed("12800582793", LATER)
    assert (refund.status, refund.external_id) == (RefundStatus.SUCCEEDED, "12800582793")
    with pytest.raises(IllegalTransition):
        refund.fail("-99000005", "refund exceeds purchase", LATER)
    with pytest.raises(IllegalTransition):
        refund.succeed("again", LATER)


def test_a_failed_refund_keeps_the_providers_reason() -> None:
    refund = Refund(id="re_1", payment_id="pay_1", shop_id=121038, amount=kzt(100), created_at=AT, updated_at=AT)
    refund.fail("-99000005", "refund exceeds purchase", LATER)
    assert (refund.status, refund.error_code) == (RefundStatus.FAILED, "-99000005")
    with pytest.raises(IllegalTransition):
        refund.succeed(None, LATER)


# --- Properties ----------------------------------------------------------------------------------

PAID = 1000
refund_steps = st.lists(
    st.tuples(st.sampled_from(["reserve", "complete", "release"]), st.integers(0, PAID + 100)),
    max_size=40,
)


def _assert_consistent(payment: Payment) -> None:
    assert payment.refunded is not None and payment.refund_reserved is not None
    refunded, reserved = payment.refunded.minor, payment.refund_reserved.minor
    assert refunded >= 0 and reserved >= 0
    assert refunded + reserved <= PAID
    assert payment.refundable.minor == PAID - refunded - reserved
    expected = S.SUCCEEDED if refunded == 0 else S.REFUNDED if refunded == PAID else S.PARTIALLY_REFUNDED
    assert payment.status is expected


@given(steps=refund_steps)
def test_no_sequence_of_refund_steps_ever_refunds_more_than_was_paid(steps: list[tuple[str, int]]) -> None:
    payment = a_paid_payment(PAID)
    for operation, minor in steps:
        before = copy.deepcopy(state(payment))
        try:
            getattr(payment, f"{operation}_refund")(kzt(minor), LATER)
        except DomainError:
            assert state(payment) == before  # a refused step leaves no trace
        _assert_consistent(payment)


@given(amounts=st.lists(st.integers(1, PAID), max_size=20), outcomes=st.lists(st.booleans(), max_size=20))
def test_reserved_refunds_always_equal_what_is_still_in_flight(amounts: list[int], outcomes: list[bool]) -> None:
    payment = a_paid_payment(PAID)
    in_flight: list[Money] = []
    for minor in amounts:
        try:
            payment.reserve_refund(kzt(minor), LATER)
            in_flight.append(kzt(minor))
        except RefundExceedsRemaining:
            assert minor > payment.refundable.minor
    for succeeded, amount in zip(outcomes, list(in_flight), strict=False):
        (payment.complete_refund if succeeded else payment.release_refund)(amount, LATER)
        in_flight.remove(amount)
        _assert_consistent(payment)
    assert payment.refund_reserved == kzt(sum(m.minor for m in in_flight))
    _assert_consistent(payment)


def test_the_moment_a_payment_succeeded_is_kept_for_good() -> None:
    paid_at, later = datetime(2026, 12, 1, 20, 0, tzinfo=UTC), datetime(2026, 12, 4, tzinfo=UTC)
    two_step = a_payment()
    two_step.settle(S.AUTHORIZED, provider_status="authorized", at=paid_at - timedelta(hours=1))
    assert two_step.succeeded_at is None
    two_step.settle(S.SUCCEEDED, provider_status="captured", at=paid_at)
    two_step.reserve_refund(kzt(10000), later)
    two_step.complete_refund(kzt(10000), later)
    late = a_payment(S.FAILED)
    late.record_late_success(S.SUCCEEDED, provider_status="paid", at=later)

    # Annotated: the checker would still hold `succeeded_at` to the None asserted above.
    settled: tuple[S, datetime | None] = (two_step.status, two_step.succeeded_at)
    assert settled == (S.REFUNDED, paid_at)
    assert late.succeeded_at == later
