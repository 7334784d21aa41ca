"""Status sync: one audited change per real change, nothing recorded when nothing changed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.audit import Outcome
from domain.money import Money
from domain.payment import Payment, PaymentStatus

from application.errors import PaymentNotFound, ProviderDeclined, ProviderUnavailable
from application.ports import DeclinedAttempt, ProviderPayment

from tests.support.core import InMemoryGateway
from tests.unit.conftest import SHOP, SHOP_BIN

pytestmark = pytest.mark.anyio

EXTERNAL_ID = "12800627774"
PAID = ProviderPayment(EXTERNAL_ID, "Processed", PaymentStatus.SUCCEEDED)
WAITING = ProviderPayment(EXTERNAL_ID, "Wait", PaymentStatus.PENDING)
ERROR = ProviderPayment(EXTERNAL_ID, "Error", PaymentStatus.FAILED)


def pending(gateway: InMemoryGateway, *, external_id: str | None = EXTERNAL_ID) -> Payment:
    return gateway.seed_payment(SHOP, amount=Money(20000, "KZT"), status=PaymentStatus.PENDING, external_id=external_id)


async def test_a_paid_answer_settles_the_payment_with_one_audit_entry(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    gateway.provider.will_fetch(PAID)
    returned = await gateway.sync.refresh(payment, actor="poller")

    stored = gateway.db.payment(payment.id)
    assert returned.status is PaymentStatus.SUCCEEDED
    assert (stored.status, stored.provider_status) == (PaymentStatus.SUCCEEDED, "Processed")
    assert stored.version == payment.version + 1
    [entry] = gateway.db.audit
    assert (entry.operation_type, entry.status, entry.actor, entry.payment_id) == (
        "status_change", Outcome.SUCCESS, "poller", payment.id,
    )
    assert (entry.shop_id, entry.organization_bin, entry.external_id) == (SHOP, SHOP_BIN, EXTERNAL_ID)


async def test_the_provider_is_asked_on_the_sellers_route_by_its_own_id(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    gateway.provider.will_fetch(WAITING)
    await gateway.sync.refresh(payment)
    assert gateway.provider.fetch_requests == [(gateway.db.routes[(SHOP, "kaspi")], EXTERNAL_ID)]


async def test_an_unchanged_answer_writes_and_records_nothing(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    gateway.provider.will_fetch(WAITING)
    await gateway.sync.refresh(payment)

    assert gateway.db.payment(payment.id).version == payment.version
    assert gateway.db.audit == []
    assert gateway.db.commits == 0
    assert gateway.db.transactions == 0  # not even a locked read: a status poll costs no row lock


async def test_a_new_provider_status_without_a_new_outcome_is_stored_but_not_audited(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    gateway.provider.will_fetch(ProviderPayment(EXTERNAL_ID, "RemotePaymentCreated", PaymentStatus.PENDING))
    await gateway.sync.refresh(payment)

    stored = gateway.db.payment(payment.id)
    assert (stored.status, stored.provider_status) == (PaymentStatus.PENDING, "RemotePaymentCreated")
    assert gateway.db.audit == []


async def test_a_settled_payment_is_not_asked_about_again(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    gateway.provider.will_fetch(PAID)
    settled = await gateway.sync.refresh(payment)
    again = await gateway.sync.refresh(settled)

    assert again.status is PaymentStatus.SUCCEEDED
    assert len(gateway.provider.fetch_requests) == 1
    assert len(gateway.db.audit) == 1


async def test_an_error_before_the_payment_expires_is_a_failure(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    gateway.clock.advance(timedelta(hours=1))
    gateway.provider.will_fetch(ERROR)
    await gateway.sync.refresh(payment)

    stored = gateway.db.payment(payment.id)
    assert (stored.status, stored.error_code) == (PaymentStatus.FAILED, "Error")
    assert [e.operation_type for e in gateway.db.audit] == ["status_change"]


@pytest.mark.parametrize("after", [timedelta(hours=24), timedelta(hours=25)])
async def test_an_error_once_the_payment_has_expired_is_an_expiry(gateway: InMemoryGateway, after: timedelta) -> None:
    # Kaspi answers the same `Error` for a decline and for its own cancellation after 24 hours.
    payment = pending(gateway)
    gateway.clock.advance(after)
    gateway.provider.will_fetch(ERROR)
    await gateway.sync.refresh(payment)

    assert gateway.db.payment(payment.id).status is PaymentStatus.EXPIRED
    assert len(gateway.db.audit) == 1


@pytest.mark.parametrize(
    "failure", [ProviderUnavailable("read timeout", timed_out=True), ProviderDeclined("-1601", "purchase not found")]
)
async def test_an_unanswered_status_question_never_changes_the_payment(
    gateway: InMemoryGateway, failure: Exception
) -> None:
    payment = pending(gateway)
    gateway.provider.will_fetch(failure)
    returned = await gateway.sync.refresh(payment, actor="poller")

    assert returned.status is PaymentStatus.PENDING
    stored = gateway.db.payment(payment.id)
    assert (stored.status, stored.version) == (PaymentStatus.PENDING, payment.version)
    [entry] = gateway.db.audit
    assert (entry.operation_type, entry.status, entry.payment_id, entry.actor) == (
        "status", Outcome.ERROR, payment.id, "poller",
    )


async def test_a_payment_the_provider_never_named_is_not_asked_about(gateway: InMemoryGateway) -> None:
    payment = pending(gateway, external_id=None)
    returned = await gateway.sync.refresh(payment)
    assert returned.status is PaymentStatus.PENDING
    assert gateway.provider.fetch_requests == []


async def test_a_change_applied_meanwhile_by_a_webhook_is_recorded_once(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)

    async def webhook_meanwhile(_operation: str, _request: object) -> None:
        await gateway.sync.apply(payment.id, PAID, actor="webhook")

    gateway.provider.observers.append(webhook_meanwhile)
    gateway.provider.will_fetch(PAID)
    returned = await gateway.sync.refresh(payment, actor="poller")

    assert returned.status is PaymentStatus.SUCCEEDED
    [entry] = gateway.db.audit
    assert entry.actor == "webhook"
    assert gateway.db.payment(payment.id).version == payment.version + 1


async def test_a_late_contradicting_answer_cannot_unsettle_a_payment(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    await gateway.sync.apply(payment.id, PAID)
    await gateway.sync.apply(payment.id, ERROR)

    assert gateway.db.payment(payment.id).status is PaymentStatus.SUCCEEDED
    assert len(gateway.db.audit) == 1


async def test_applying_to_an_unknown_payment_is_refused(gateway: InMemoryGateway) -> None:
    with pytest.raises(PaymentNotFound):
        await gateway.sync.apply("pay_missing", PAID)


async def test_reading_a_pending_payment_refreshes_it(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    gateway.provider.will_fetch(PAID)
    read = await gateway.get.by_external_id("kaspi", EXTERNAL_ID, actor="key_shop")

    assert (read.id, read.status) == (payment.id, PaymentStatus.SUCCEEDED)
    assert gateway.db.payment(payment.id).status is PaymentStatus.SUCCEEDED


async def test_reading_without_refresh_does_not_ask_the_provider(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    read = await gateway.get.by_id(payment.id, refresh=False)
    assert read.status is PaymentStatus.PENDING
    assert gateway.provider.fetch_requests == []


async def test_reading_a_payment_known_only_at_another_provider_is_refused(gateway: InMemoryGateway) -> None:
    pending(gateway)
    with pytest.raises(PaymentNotFound):
        await gateway.get.by_external_id("stripe", EXTERNAL_ID)


async def test_a_lagging_pending_answer_never_undoes_an_authorisation(gateway: InMemoryGateway) -> None:
    payment = gateway.seed_payment(
        SHOP, amount=Money(20000, "KZT"), status=PaymentStatus.AUTHORIZED, external_id=EXTERNAL_ID
    )
    returned = await gateway.sync.apply(payment.id, WAITING)

    assert returned.status is PaymentStatus.AUTHORIZED
    assert gateway.db.payment(payment.id).version == payment.version
    assert gateway.db.audit == []


# --- A declined attempt the customer may retry; a success after the payment closed ----------------


def declined_attempt(attempt_id: str, reason: str = "InsufficientFunds") -> ProviderPayment:
    return ProviderPayment(
        EXTERNAL_ID, "Declined", PaymentStatus.PENDING, declined_attempt=DeclinedAttempt(attempt_id, "reason_5051", reason)
    )


def event_types(gateway: InMemoryGateway) -> list[str]:
    return [stored.event.type.value for stored in gateway.db.events]


async def test_a_declined_attempt_keeps_the_payment_pending_and_is_told_once(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    gateway.provider.will_fetch(declined_attempt("701"))
    gateway.provider.will_fetch(declined_attempt("701"))

    await gateway.sync.refresh(payment, actor="poller")
    transactions = gateway.db.transactions
    again = await gateway.sync.refresh(gateway.db.payment(payment.id), actor="poller")  # the same attempt, read again

    assert gateway.db.transactions == transactions  # nothing new: not even a row lock

    assert (again.status, again.provider_status, again.error_code) == (PaymentStatus.PENDING, "Declined", "reason_5051")
    assert again.error_message == "attempt 701 declined: InsufficientFunds"
    assert event_types(gateway) == ["payment.attempt_failed"]
    [entry] = gateway.db.audit
    assert (entry.operation_type, entry.status, entry.actor) == ("attempt", Outcome.ERROR, "poller")


async def test_each_declined_attempt_is_told_and_a_retry_that_pays_clears_the_decline(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)

    await gateway.sync.apply(payment.id, declined_attempt("701"))
    await gateway.sync.apply(payment.id, declined_attempt("702", "Do not honor"))
    paid = await gateway.sync.apply(payment.id, ProviderPayment(EXTERNAL_ID, "Completed", PaymentStatus.SUCCEEDED))

    assert (paid.status, paid.error_code, paid.error_message) == (PaymentStatus.SUCCEEDED, None, None)
    assert event_types(gateway) == ["payment.attempt_failed", "payment.attempt_failed", "payment.succeeded"]


async def test_a_decline_never_undoes_an_authorisation(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    await gateway.sync.apply(payment.id, ProviderPayment(EXTERNAL_ID, "Authorized", PaymentStatus.AUTHORIZED))

    held = await gateway.sync.apply(payment.id, declined_attempt("703"))

    assert (held.status, held.error_code) == (PaymentStatus.AUTHORIZED, None)
    assert event_types(gateway) == ["payment.authorized"]


@pytest.mark.parametrize("closed", [PaymentStatus.EXPIRED, PaymentStatus.FAILED, PaymentStatus.CANCELLED])
async def test_money_taken_after_the_payment_closed_is_recorded_and_flagged(
    gateway: InMemoryGateway, closed: PaymentStatus
) -> None:
    payment = pending(gateway)
    await gateway.sync.apply(payment.id, ProviderPayment(EXTERNAL_ID, "Closed", closed))

    late = await gateway.sync.apply(payment.id, PAID, actor="webhook:cloudpayments")
    again = await gateway.sync.apply(payment.id, PAID, actor="webhook:cloudpayments")  # a redelivery

    assert (late.status, late.error_code) == (PaymentStatus.SUCCEEDED, "late_success")
    assert again.version == late.version
    assert event_types(gateway) == [f"payment.{closed.value}", "payment.late_success"]
    entry = gateway.db.audit[-1]
    assert (entry.operation_type, entry.status, entry.actor) == ("late_success", Outcome.ERROR, "webhook:cloudpayments")
    assert f"after the payment was {closed.value}" in (entry.error_message or "")


async def test_a_late_hold_is_followed_by_the_poller(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    await gateway.sync.apply(payment.id, ProviderPayment(EXTERNAL_ID, "Closed", PaymentStatus.EXPIRED))

    late = await gateway.sync.apply(payment.id, ProviderPayment(EXTERNAL_ID, "Authorized", PaymentStatus.AUTHORIZED))

    assert (late.status, late.error_code) == (PaymentStatus.AUTHORIZED, "late_success")
    assert payment.id in gateway.db.checks


async def test_a_late_hold_captured_later_keeps_its_flag(gateway: InMemoryGateway) -> None:
    payment = pending(gateway)
    await gateway.sync.apply(payment.id, ProviderPayment(EXTERNAL_ID, "Closed", PaymentStatus.EXPIRED))
    await gateway.sync.apply(payment.id, ProviderPayment(EXTERNAL_ID, "Authorized", PaymentStatus.AUTHORIZED))

    captured = await gateway.sync.apply(payment.id, PAID)

    assert (captured.status, captured.error_code) == (PaymentStatus.SUCCEEDED, "late_success")
