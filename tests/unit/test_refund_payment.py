"""Refunds: reserved before the provider is asked, never more than was paid, every outcome audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.audit import Outcome
from domain.errors import CurrencyMismatch, PaymentNotRefundable, RefundExceedsRemaining
from domain.money import Money
from domain.payment import Payment, PaymentStatus
from domain.refund import RefundStatus

from application.errors import (
    DuplicateIdempotencyKey,
    PaymentDeclined,
    PaymentNotFound,
    ProviderDeclined,
    ProviderNotConfigured,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
)
from application.ports import ProviderPayment, ProviderRefund, RefundRequest
from application.refund_payment import RefundCommand

from tests.support.core import InMemoryGateway
from tests.unit.conftest import OTHER_SHOP, SHOP, SHOP_BIN, START

pytestmark = pytest.mark.anyio

EXTERNAL_ID = "12800627774"


def tenge(amount: int) -> Money:
    return Money(amount * 100, "KZT")


def paid(gateway: InMemoryGateway, amount: int = 100) -> Payment:
    return gateway.seed_payment(SHOP, amount=tenge(amount))


def refund(amount: int | None = None, **changes: Any) -> RefundCommand:
    fields: dict[str, Any] = {
        "shop_id": SHOP, "provider": "kaspi", "external_id": EXTERNAL_ID,
        "amount": tenge(amount) if amount is not None else None, "actor": "key_shop",
    }
    return RefundCommand(**{**fields, **changes})


def returned(operation_id: str = "12800582793") -> ProviderRefund:
    return ProviderRefund(operation_id)


async def test_a_full_refund_refunds_everything_that_was_paid(gateway: InMemoryGateway) -> None:
    payment = paid(gateway)
    gateway.provider.will_refund(returned())
    result = await gateway.refund.execute(refund())

    stored = gateway.db.payment(payment.id)
    assert (stored.status, stored.refunded, stored.refund_reserved) == (PaymentStatus.REFUNDED, tenge(100), tenge(0))
    [stored_refund] = gateway.db.refunds_of(payment.id)
    assert (stored_refund.status, stored_refund.amount, stored_refund.external_id) == (
        RefundStatus.SUCCEEDED, tenge(100), "12800582793",
    )
    assert (result.payment.status, result.refund.id) == (PaymentStatus.REFUNDED, stored_refund.id)
    [entry] = gateway.db.audit
    assert (entry.operation_type, entry.status, entry.amount_minor, entry.actor) == (
        "refund", Outcome.SUCCESS, 10000, "key_shop",
    )
    assert (entry.shop_id, entry.organization_bin, entry.external_id, entry.payment_id) == (
        SHOP, SHOP_BIN, EXTERNAL_ID, payment.id,
    )


async def test_the_provider_is_asked_for_exactly_the_reserved_amount(gateway: InMemoryGateway) -> None:
    payment = paid(gateway)
    gateway.provider.will_refund(returned())
    result = await gateway.refund.execute(refund(30))

    assert gateway.provider.refund_requests == [
        RefundRequest(
            refund_id=result.refund.id, idempotency_key=result.refund.id,
            route=gateway.db.routes[(SHOP, "kaspi")], external_id=EXTERNAL_ID,
            merchant_account=SHOP_BIN, amount=tenge(30),
        )
    ]
    assert gateway.db.payment(payment.id).status is PaymentStatus.PARTIALLY_REFUNDED


async def test_the_provider_sees_the_reservation_already_committed(gateway: InMemoryGateway) -> None:
    payment = paid(gateway)
    seen: list[tuple[Money | None, int]] = []
    gateway.provider.observers.append(
        lambda _op, _req: seen.append((gateway.db.payment(payment.id).refund_reserved, gateway.db.open_transactions))
    )
    gateway.provider.will_refund(returned())
    await gateway.refund.execute(refund(30))
    assert seen == [(tenge(30), 0)]


async def test_two_halves_refund_the_payment_fully(gateway: InMemoryGateway) -> None:
    payment = paid(gateway)
    gateway.provider.will_refund(returned("1"), returned("2"))
    await gateway.refund.execute(refund(50))
    await gateway.refund.execute(refund(50))

    stored = gateway.db.payment(payment.id)
    assert (stored.status, stored.refunded) == (PaymentStatus.REFUNDED, tenge(100))
    assert sorted(r.external_id or "" for r in gateway.db.refunds_of(payment.id)) == ["1", "2"]
    assert [e.status for e in gateway.db.audit_of("refund")] == [Outcome.SUCCESS, Outcome.SUCCESS]


async def test_a_refund_beyond_what_remains_is_refused_audited_and_never_sent(gateway: InMemoryGateway) -> None:
    payment = paid(gateway)
    gateway.provider.will_refund(returned("1"), returned("2"))
    await gateway.refund.execute(refund(30))
    await gateway.refund.execute(refund(30))
    with pytest.raises(RefundExceedsRemaining) as refused:
        await gateway.refund.execute(refund(50))

    assert (refused.value.requested_minor, refused.value.remaining_minor) == (5000, 4000)
    stored = gateway.db.payment(payment.id)
    assert (stored.status, stored.refunded, stored.refund_reserved) == (
        PaymentStatus.PARTIALLY_REFUNDED, tenge(60), tenge(0),
    )
    assert len(gateway.provider.refund_requests) == 2
    assert len(gateway.db.refunds_of(payment.id)) == 2
    entry = gateway.db.audit[-1]
    assert (entry.operation_type, entry.status, entry.payment_id, entry.amount_minor) == (
        "refund", Outcome.ERROR, payment.id, 5000,
    )
    assert "exceeds" in (entry.error_message or "")


async def test_a_refund_of_a_fully_refunded_payment_is_refused(gateway: InMemoryGateway) -> None:
    paid(gateway)
    gateway.provider.will_refund(returned())
    await gateway.refund.execute(refund())
    with pytest.raises(PaymentNotRefundable):
        await gateway.refund.execute(refund())
    assert len(gateway.provider.refund_requests) == 1


async def test_another_shops_payment_does_not_exist_for_a_refund(gateway: InMemoryGateway) -> None:
    payment = paid(gateway)
    for command in (refund(shop_id=OTHER_SHOP), refund(shop_id=OTHER_SHOP, external_id=None, payment_id=payment.id)):
        with pytest.raises(PaymentNotFound):
            await gateway.refund.execute(command)

    assert gateway.db.payment(payment.id).refund_reserved == tenge(0)
    assert gateway.provider.refund_requests == []
    refusals = [(e.shop_id, e.status, e.organization_bin) for e in gateway.db.audit]
    assert refusals == [(OTHER_SHOP, Outcome.ERROR, None)] * 2


async def test_a_payment_can_be_refunded_by_its_gateway_id(gateway: InMemoryGateway) -> None:
    payment = paid(gateway)
    gateway.provider.will_refund(returned())
    await gateway.refund.execute(refund(external_id=None, payment_id=payment.id))
    assert gateway.db.payment(payment.id).status is PaymentStatus.REFUNDED


async def test_an_unknown_refund_outcome_keeps_the_reservation(gateway: InMemoryGateway) -> None:
    payment = paid(gateway)
    gateway.provider.will_refund(ProviderUnavailable("read timeout", timed_out=True))
    with pytest.raises(ProviderOutcomeUnknown) as unknown:
        await gateway.refund.execute(refund(40))

    stored = gateway.db.payment(payment.id)
    assert (stored.status, stored.refunded, stored.refund_reserved) == (PaymentStatus.SUCCEEDED, tenge(0), tenge(40))
    [pending] = gateway.db.refunds_of(payment.id)
    assert (pending.id, pending.status, pending.error_code) == (
        unknown.value.reference, RefundStatus.PENDING, "provider_outcome_unknown",
    )
    [entry] = gateway.db.audit
    assert (entry.operation_type, entry.status, entry.amount_minor) == ("refund", Outcome.PENDING, 4000)


async def test_money_held_by_an_unknown_refund_cannot_be_refunded_again(gateway: InMemoryGateway) -> None:
    payment = paid(gateway)
    gateway.provider.will_refund(ProviderUnavailable("read timeout", timed_out=True), returned())
    with pytest.raises(ProviderOutcomeUnknown):
        await gateway.refund.execute(refund(40))
    with pytest.raises(RefundExceedsRemaining):
        await gateway.refund.execute(refund(61))
    await gateway.refund.execute(refund())  # "everything" is what is not held

    assert gateway.provider.refund_requests[-1].amount == tenge(60)
    stored = gateway.db.payment(payment.id)
    assert (stored.status, stored.refunded, stored.refund_reserved) == (
        PaymentStatus.PARTIALLY_REFUNDED, tenge(60), tenge(40),
    )


async def test_a_declined_refund_gives_the_reservation_back(gateway: InMemoryGateway) -> None:
    payment = paid(gateway)
    gateway.provider.will_refund(ProviderDeclined("-99000011", "wrong status for refund"))
    with pytest.raises(PaymentDeclined):
        await gateway.refund.execute(refund(40))

    stored = gateway.db.payment(payment.id)
    assert (stored.status, stored.refund_reserved) == (PaymentStatus.SUCCEEDED, tenge(0))
    [failed] = gateway.db.refunds_of(payment.id)
    assert (failed.status, failed.error_code) == (RefundStatus.FAILED, "-99000011")
    [entry] = gateway.db.audit
    assert (entry.operation_type, entry.status) == ("refund", Outcome.ERROR)


async def test_a_retry_after_success_returns_the_same_refund_without_asking_again(gateway: InMemoryGateway) -> None:
    payment = paid(gateway)
    gateway.provider.will_refund(returned())
    first = await gateway.refund.execute(refund(40, idempotency_key="r1"))
    again = await gateway.refund.execute(refund(40, idempotency_key="r1"))

    assert again.refund.id == first.refund.id
    assert len(gateway.provider.refund_requests) == 1
    assert gateway.db.payment(payment.id).refunded == tenge(40)
    assert len(gateway.db.audit) == 1


@pytest.mark.parametrize(
    ("answer", "raised"),
    [
        (ProviderUnavailable("read timeout", timed_out=True), ProviderOutcomeUnknown),
        (ProviderDeclined("-99000006", "refund error"), PaymentDeclined),
    ],
)
async def test_a_retry_after_an_unclear_or_refused_refund_repeats_the_answer_without_asking_again(
    gateway: InMemoryGateway, answer: Exception, raised: type[Exception]
) -> None:
    payment = paid(gateway)
    gateway.provider.will_refund(answer)
    with pytest.raises(raised):
        await gateway.refund.execute(refund(40, idempotency_key="r1"))
    audit_before = list(gateway.db.audit)
    with pytest.raises(raised):
        await gateway.refund.execute(refund(40, idempotency_key="r1"))

    assert len(gateway.provider.refund_requests) == 1
    assert len(gateway.db.refunds_of(payment.id)) == 1
    assert gateway.db.audit == audit_before  # a replay is not a second refund attempt, nor an error


async def test_a_refund_of_a_pending_payment_first_asks_whether_it_was_paid(gateway: InMemoryGateway) -> None:
    payment = gateway.seed_payment(SHOP, amount=tenge(100), status=PaymentStatus.PENDING)
    gateway.provider.will_fetch(ProviderPayment(EXTERNAL_ID, "Processed", PaymentStatus.SUCCEEDED))
    gateway.provider.will_refund(returned())
    await gateway.refund.execute(refund(100))

    assert gateway.db.payment(payment.id).status is PaymentStatus.REFUNDED
    assert [e.operation_type for e in gateway.db.audit] == ["status_change", "refund"]


async def test_a_payment_still_waiting_for_the_customer_cannot_be_refunded(gateway: InMemoryGateway) -> None:
    payment = gateway.seed_payment(SHOP, amount=tenge(100), status=PaymentStatus.PENDING)
    gateway.provider.will_fetch(ProviderPayment(EXTERNAL_ID, "Wait", PaymentStatus.PENDING))
    with pytest.raises(PaymentNotRefundable):
        await gateway.refund.execute(refund(100))

    assert gateway.provider.refund_requests == []
    assert gateway.db.payment(payment.id).status is PaymentStatus.PENDING
    [entry] = gateway.db.audit
    assert (entry.operation_type, entry.status, entry.payment_id) == ("refund", Outcome.ERROR, payment.id)


async def test_a_refund_in_another_currency_is_refused(gateway: InMemoryGateway) -> None:
    paid(gateway)
    with pytest.raises(CurrencyMismatch):
        await gateway.refund.execute(
            RefundCommand(shop_id=SHOP, provider="kaspi", external_id=EXTERNAL_ID, amount=Money(100, "USD"))
        )
    assert gateway.provider.refund_requests == []


async def test_an_idempotency_key_of_another_shop_neither_replays_its_refund_nor_refunds(
    gateway: InMemoryGateway,
) -> None:
    paid(gateway)
    other = gateway.seed_payment(OTHER_SHOP, amount=tenge(100), external_id="12800000001")
    gateway.provider.will_refund(returned())
    await gateway.refund.execute(refund(40, idempotency_key="r1"))
    with pytest.raises(DuplicateIdempotencyKey):
        await gateway.refund.execute(refund(40, shop_id=OTHER_SHOP, external_id="12800000001", idempotency_key="r1"))

    assert gateway.db.payment(other.id).refund_reserved == tenge(0)
    assert len(gateway.provider.refund_requests) == 1
    assert (gateway.db.audit[-1].shop_id, gateway.db.audit[-1].status) == (OTHER_SHOP, Outcome.ERROR)


async def test_an_idempotency_key_reused_on_another_payment_or_amount_is_refused(gateway: InMemoryGateway) -> None:
    paid(gateway)
    second = gateway.seed_payment(SHOP, amount=tenge(100), external_id="12800000002")
    gateway.provider.will_refund(returned())
    await gateway.refund.execute(refund(40, idempotency_key="r1"))
    for command in (refund(40, external_id="12800000002", idempotency_key="r1"), refund(50, idempotency_key="r1")):
        with pytest.raises(DuplicateIdempotencyKey):
            await gateway.refund.execute(command)

    assert gateway.db.payment(second.id).refunded == tenge(0)
    assert len(gateway.provider.refund_requests) == 1


async def test_a_refund_through_an_unconfigured_provider_holds_no_money(gateway: InMemoryGateway) -> None:
    gateway.seed_route(SHOP, "acct_1", provider="stripe")
    payment = gateway.seed_payment(SHOP, amount=tenge(100), provider="stripe", external_id="pi_1")
    with pytest.raises(ProviderNotConfigured):
        await gateway.refund.execute(refund(provider="stripe", external_id="pi_1"))

    assert gateway.db.payment(payment.id).refund_reserved == tenge(0)
    assert gateway.db.refunds_of(payment.id) == []
    assert gateway.db.audit[-1].status is Outcome.ERROR


# --- Property: whatever the provider answers, the books balance ------------------------------------

ANSWERS: dict[str, Callable[[], ProviderRefund | Exception]] = {
    "ok": lambda: returned(),
    "declined": lambda: ProviderDeclined("-99000006", "refund error"),
    "unknown": lambda: ProviderUnavailable("read timeout", timed_out=True),
}


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(1, 120), st.sampled_from(sorted(ANSWERS))), max_size=12))
def test_no_sequence_of_refunds_and_provider_answers_unbalances_the_books(steps: list[tuple[int, str]]) -> None:
    async def scenario() -> None:
        gateway = InMemoryGateway(now=START)
        gateway.seed_route(SHOP, SHOP_BIN)
        payment = paid(gateway, 100)
        for amount, answer in steps:
            fits = tenge(amount) <= gateway.db.payment(payment.id).refundable
            if fits:
                gateway.provider.will_refund(ANSWERS[answer]())
            try:
                await gateway.refund.execute(refund(amount))
                assert fits and answer == "ok"
            except (RefundExceedsRemaining, PaymentNotRefundable):
                assert not fits
            except PaymentDeclined:
                assert fits and answer == "declined"
            except ProviderOutcomeUnknown:
                assert fits and answer == "unknown"

            stored = gateway.db.payment(payment.id)
            refunds = gateway.db.refunds_of(payment.id)
            succeeded = sum(r.amount.minor for r in refunds if r.status is RefundStatus.SUCCEEDED)
            in_flight = sum(r.amount.minor for r in refunds if r.status is RefundStatus.PENDING)
            assert (stored.refunded, stored.refund_reserved) == (Money(succeeded, "KZT"), Money(in_flight, "KZT"))
            assert succeeded + in_flight <= stored.amount.minor
            assert (stored.status is PaymentStatus.REFUNDED) == (succeeded == stored.amount.minor)
        assert gateway.provider.unused_answers() == 0

    anyio.run(scenario)
