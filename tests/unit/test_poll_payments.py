"""The poller's sweep: due payments asked once, answers applied through the one path, errors never fail."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import attrs
import pytest

from domain.audit import Outcome
from domain.capabilities import Capability
from domain.events import EventType
from domain.money import Money
from domain.payment import Payment, PaymentStatus
from domain.polling import PaymentCheck

from application.errors import ProviderDeclined, ProviderUnavailable
from application.poll_payments import PollPayments
from application.ports import ProviderPayment

from tests.support.core import SETTINGS, InMemoryGateway
from tests.unit.conftest import SHOP, START

pytestmark = pytest.mark.anyio


def pending(gateway: InMemoryGateway, external_id: str = "12800627774", *, due_in: timedelta = timedelta(0)) -> Payment:
    payment = gateway.seed_payment(
        SHOP, amount=Money(500000, "KZT"), status=PaymentStatus.PENDING, external_id=external_id
    )
    gateway.db.checks[payment.id] = PaymentCheck(payment.id, next_check_at=gateway.clock.now() + due_in)
    return payment


def answer(payment: Payment, status: str, outcome: PaymentStatus) -> ProviderPayment:
    assert payment.external_id is not None
    return ProviderPayment(payment.external_id, status, outcome)


def event_types(gateway: InMemoryGateway, payment: Payment) -> list[str]:
    return [row.event.type.value for row in gateway.db.events if row.event.payment_id == payment.id]


async def test_a_paid_payment_is_settled_in_one_sweep_with_one_event_and_leaves_the_schedule(
    gateway: InMemoryGateway,
) -> None:
    payment = pending(gateway)
    gateway.provider.will_fetch(answer(payment, "Processed", PaymentStatus.SUCCEEDED))

    summary = await gateway.poll.sweep()

    assert summary.as_dict() == {"checked": 1, "changed": 1, "expired": 0, "errors": 0}
    assert gateway.db.payment(payment.id).status is PaymentStatus.SUCCEEDED
    assert event_types(gateway, payment) == [EventType.PAYMENT_SUCCEEDED]
    assert [(e.operation_type, e.actor) for e in gateway.db.audit] == [("status_change", "poller")]
    assert payment.id not in gateway.db.checks
    assert gateway.throttle.turns == 1


async def test_a_payment_still_waiting_is_asked_again_on_the_kaspi_schedule(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    gateway.provider.will_fetch(answer(payment, "Wait", PaymentStatus.PENDING))

    summary = await gateway.poll.sweep()

    assert summary.as_dict() == {"checked": 1, "changed": 0, "expired": 0, "errors": 0}
    assert gateway.db.checks[payment.id] == PaymentCheck(payment.id, START + timedelta(seconds=15), 1, None)
    assert gateway.db.payment(payment.id).version == payment.version
    assert gateway.db.events == [] and gateway.db.audit == []


async def test_a_payment_asked_about_is_not_asked_again_in_the_same_round(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    gateway.provider.will_fetch(answer(payment, "Wait", PaymentStatus.PENDING))
    await gateway.poll.sweep()

    again = await gateway.poll.sweep()  # the clock has not moved: nothing is due

    assert again.checked == 0
    assert len(gateway.provider.fetch_requests) == 1


async def test_an_older_payment_is_asked_about_less_often(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    gateway.clock.advance(timedelta(minutes=20))
    gateway.provider.will_fetch(answer(payment, "Wait", PaymentStatus.PENDING))

    await gateway.poll.sweep()

    assert gateway.db.checks[payment.id].next_check_at == gateway.clock.now() + timedelta(minutes=2)


@pytest.mark.parametrize(
    "failure", [ProviderUnavailable("read timeout", timed_out=True), ProviderDeclined("-1601", "Purchase not found")]
)
async def test_a_provider_error_is_audited_and_rescheduled_and_never_fails_the_payment(
    gateway: InMemoryGateway, failure: Exception
) -> None:
    payment = pending(gateway)
    gateway.provider.will_fetch(failure)

    summary = await gateway.poll.sweep()

    assert summary.as_dict() == {"checked": 1, "changed": 0, "expired": 0, "errors": 1}
    assert gateway.db.payment(payment.id).status is PaymentStatus.PENDING
    [entry] = gateway.db.audit
    assert (entry.operation_type, entry.status, entry.payment_id, entry.actor) == (
        "status", Outcome.ERROR, payment.id, "poller",
    )
    assert gateway.db.checks[payment.id] == PaymentCheck(payment.id, START + timedelta(seconds=15), 1, None)
    assert gateway.db.events == []


async def test_a_payment_nobody_paid_expires_once_past_its_lifetime(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    gateway.clock.advance(timedelta(hours=24, minutes=5))
    gateway.provider.will_fetch(answer(payment, "Wait", PaymentStatus.PENDING))

    summary = await gateway.poll.sweep()

    assert summary.as_dict() == {"checked": 1, "changed": 1, "expired": 1, "errors": 0}
    assert gateway.db.payment(payment.id).status is PaymentStatus.EXPIRED
    assert event_types(gateway, payment) == [EventType.PAYMENT_EXPIRED]
    assert payment.id not in gateway.db.checks


async def test_within_the_grace_after_its_lifetime_it_waits_and_is_asked_right_at_the_deadline(
    gateway: InMemoryGateway,
) -> None:
    payment = pending(gateway)
    gateway.clock.advance(timedelta(hours=24, minutes=4, seconds=50))
    gateway.provider.will_fetch(answer(payment, "Wait", PaymentStatus.PENDING))

    await gateway.poll.sweep()

    assert gateway.db.payment(payment.id).status is PaymentStatus.PENDING
    assert payment.expires_at is not None
    assert gateway.db.checks[payment.id].next_check_at == payment.expires_at + timedelta(minutes=5)


async def test_a_payment_paid_at_the_last_moment_is_paid_not_expired(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    gateway.clock.advance(timedelta(hours=30))
    gateway.provider.will_fetch(answer(payment, "Processed", PaymentStatus.SUCCEEDED))

    await gateway.poll.sweep()

    assert gateway.db.payment(payment.id).status is PaymentStatus.SUCCEEDED


async def test_checks_not_due_yet_or_leased_by_another_poller_are_left_alone(gateway: InMemoryGateway) -> None:
    later = pending(gateway, "12800000001", due_in=timedelta(seconds=1))
    leased = pending(gateway, "12800000002")
    gateway.db.checks[leased.id] = PaymentCheck(leased.id, START, 0, leased_until=START + timedelta(minutes=5))

    assert (await gateway.poll.sweep()).checked == 0
    assert gateway.provider.fetch_requests == []
    assert gateway.db.checks[later.id].leased_until is None


async def test_a_crashed_pollers_lease_runs_out_and_the_payment_is_checked_again(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    gateway.db.checks[payment.id] = PaymentCheck(payment.id, START, 0, leased_until=START + timedelta(minutes=5))
    gateway.clock.advance(timedelta(minutes=5))
    gateway.provider.will_fetch(answer(payment, "Processed", PaymentStatus.SUCCEEDED))

    assert (await gateway.poll.sweep()).changed == 1


async def test_a_payment_settled_elsewhere_leaves_the_schedule_without_a_provider_call(
    gateway: InMemoryGateway,
) -> None:
    payment = gateway.seed_payment(SHOP, amount=Money(500000, "KZT"), status=PaymentStatus.SUCCEEDED)
    gateway.db.checks[payment.id] = PaymentCheck(payment.id, START)

    summary = await gateway.poll.sweep()

    assert summary.checked == 0
    assert payment.id not in gateway.db.checks
    assert gateway.provider.fetch_requests == []


async def test_every_due_payment_is_asked_about_once_across_batches(gateway: InMemoryGateway) -> None:
    payments = [pending(gateway, f"1280000000{n}") for n in range(7)]  # batches of 3
    gateway.provider.will_fetch(*(answer(p, "Wait", PaymentStatus.PENDING) for p in payments))

    summary = await gateway.poll.sweep()

    assert summary.checked == 7
    assert sorted(external_id for _, external_id in gateway.provider.fetch_requests) == sorted(
        str(p.external_id) for p in payments
    )


async def test_no_more_checks_than_the_concurrency_run_at_once(gateway: InMemoryGateway) -> None:
    payments = [pending(gateway, f"1280000000{n}") for n in range(7)]
    gateway.provider.will_fetch(*(answer(p, "Wait", PaymentStatus.PENDING) for p in payments))
    in_flight = peak = 0

    async def hold(_operation: str, _request: object) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(5):  # stay inside the call while the others get a chance to start
            await asyncio.sleep(0)
        in_flight -= 1

    gateway.provider.observers.append(hold)
    await gateway.poll.sweep()

    assert peak == 2  # the gateway's poller runs two at a time


async def test_one_payments_unexpected_failure_does_not_stop_the_sweep_and_keeps_its_lease(
    gateway: InMemoryGateway,
) -> None:
    broken = pending(gateway, "12800000001")
    fine = pending(gateway, "12800000002")

    def explode(_operation: str, request: object) -> None:
        if request == broken.external_id:
            raise RuntimeError("database went away")

    gateway.provider.observers.append(explode)
    gateway.provider.will_fetch(answer(fine, "Processed", PaymentStatus.SUCCEEDED))

    summary = await gateway.poll.sweep()

    assert (summary.checked, summary.changed, summary.errors) == (1, 1, 1)
    assert gateway.db.payment(fine.id).status is PaymentStatus.SUCCEEDED
    assert gateway.db.checks[broken.id].leased_until == START + timedelta(minutes=5)


async def test_a_stop_request_ends_the_sweep_before_the_next_claim(gateway: InMemoryGateway) -> None:
    pending(gateway)
    stop = asyncio.Event()
    stop.set()

    assert (await gateway.poll.sweep(until=stop)).checked == 0
    assert gateway.provider.fetch_requests == []


async def test_two_pollers_at_once_never_ask_about_the_same_payment(gateway: InMemoryGateway) -> None:
    payments = [pending(gateway, f"128000000{n:02d}") for n in range(12)]
    gateway.provider.will_fetch(*(answer(p, "Wait", PaymentStatus.PENDING) for p in payments))
    other = gateway.another_process(attrs.evolve(SETTINGS, poll_batch_size=2, poll_concurrency=3)).poll_payments()

    first, second = await asyncio.gather(gateway.poll.sweep(), other.sweep())

    assert first.checked + second.checked == 12
    asked = [external_id for _, external_id in gateway.provider.fetch_requests]
    assert sorted(asked) == sorted(str(p.external_id) for p in payments)


def withdrawing_poller(gateway: InMemoryGateway) -> PollPayments:
    """The gateway's poller for a provider whose unpaid payments stay payable until cancelled (Stripe)."""
    profile = gateway.provider.profile
    gateway.provider.profile = attrs.evolve(
        profile, capabilities=profile.capabilities | {Capability.CANCEL}, cancel_before_expiry=True
    )
    return gateway.poll


async def test_an_unpaid_payment_still_payable_at_the_provider_is_cancelled_there_before_it_closes(
    gateway: InMemoryGateway,
) -> None:
    payment = pending(gateway)
    poller = withdrawing_poller(gateway)
    gateway.clock.advance(timedelta(hours=24, minutes=5))
    gateway.provider.will_fetch(answer(payment, "requires_payment_method", PaymentStatus.PENDING))
    gateway.provider.will_cancel(answer(payment, "canceled", PaymentStatus.CANCELLED))

    await poller.sweep()

    assert [operation for operation, _ in gateway.provider.action_requests] == ["cancel"]
    assert gateway.db.payment(payment.id).status is PaymentStatus.CANCELLED


async def test_when_the_provider_will_not_withdraw_it_the_payment_stays_open_and_is_asked_again(
    gateway: InMemoryGateway,
) -> None:
    payment = pending(gateway)
    poller = withdrawing_poller(gateway)
    gateway.clock.advance(timedelta(hours=24, minutes=5))
    gateway.provider.will_fetch(answer(payment, "requires_payment_method", PaymentStatus.PENDING))
    gateway.provider.will_cancel(ProviderDeclined("payment_intent_unexpected_state", "already succeeded"))

    await poller.sweep()

    assert gateway.db.payment(payment.id).status is PaymentStatus.PENDING
    assert payment.id in gateway.db.checks
