"""What the Bitrix client reports: log entries into the audit log, and statuses checked with the provider."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain.audit import Outcome
from domain.errors import IllegalTransition, InvalidValue
from domain.money import Money
from domain.payment import Payment, PaymentStatus

from application.client_reports import ClientLogEntry, RecordClientLog, ReportPaymentStatus, StatusReport
from application.errors import PaymentNotFound, ProviderUnavailable, ShopNotFound, StatusNotConfirmed
from application.ports import ProviderPayment

from tests.support.core import InMemoryGateway
from tests.unit.conftest import OTHER_SHOP, SHOP, SHOP_BIN, START

pytestmark = pytest.mark.anyio

EXTERNAL_ID = "12800627774"
PAID = ProviderPayment(EXTERNAL_ID, "Processed", PaymentStatus.SUCCEEDED)
WAITING = ProviderPayment(EXTERNAL_ID, "Wait", PaymentStatus.PENDING)
ERROR = ProviderPayment(EXTERNAL_ID, "Error", PaymentStatus.FAILED)


@pytest.fixture
def report_status(gateway: InMemoryGateway) -> ReportPaymentStatus:
    return gateway.container.report_payment_status()


def payment(gateway: InMemoryGateway, status: PaymentStatus = PaymentStatus.PENDING) -> Payment:
    return gateway.seed_payment(SHOP, amount=Money(500000, "KZT"), status=status, external_id=EXTERNAL_ID)


def report(status: PaymentStatus, provider_status: str, **changes: Any) -> StatusReport:
    fields: dict[str, Any] = {
        "shop_id": SHOP, "provider": "kaspi", "external_id": EXTERNAL_ID, "status": status,
        "provider_status": provider_status, "actor": "bitrix",
    }
    return StatusReport(**(fields | changes))


async def test_a_reported_payment_is_applied_only_once_the_provider_confirms_it(
    gateway: InMemoryGateway, report_status: ReportPaymentStatus
) -> None:
    stored = payment(gateway)
    gateway.provider.will_fetch(PAID)

    result = await report_status.execute(report(PaymentStatus.SUCCEEDED, "Processed", error_message=None))

    assert result.status is PaymentStatus.SUCCEEDED
    assert gateway.db.payment(stored.id).status is PaymentStatus.SUCCEEDED
    assert [external_id for _route, external_id in gateway.provider.fetch_requests] == [EXTERNAL_ID]
    assert [(e.operation_type, e.status, e.actor) for e in gateway.db.audit] == [
        ("status_change", Outcome.SUCCESS, "bitrix"),
        ("status_report", Outcome.SUCCESS, "bitrix"),
    ]


@pytest.mark.parametrize("provider_says", [WAITING, ProviderUnavailable("timeout", timed_out=True)])
async def test_a_payment_the_provider_does_not_confirm_is_left_as_it_was(
    gateway: InMemoryGateway, report_status: ReportPaymentStatus, provider_says: ProviderPayment | Exception
) -> None:
    stored = payment(gateway)
    gateway.provider.will_fetch(provider_says)

    with pytest.raises(StatusNotConfirmed):
        await report_status.execute(report(PaymentStatus.SUCCEEDED, "Processed"))

    assert gateway.db.payment(stored.id).status is PaymentStatus.PENDING
    [refusal] = gateway.db.audit_of("status_report")
    assert (refusal.status, refusal.payment_id, refusal.actor) == (Outcome.ERROR, stored.id, "bitrix")


async def test_a_reported_error_after_the_payments_lifetime_agrees_with_its_expiry(
    gateway: InMemoryGateway, report_status: ReportPaymentStatus
) -> None:
    stored = payment(gateway)
    gateway.clock.set(START + timedelta(days=2))
    gateway.provider.will_fetch(ERROR)

    result = await report_status.execute(report(PaymentStatus.FAILED, "Error", error_message="customer gone"))

    assert result.status is PaymentStatus.EXPIRED
    [entry] = gateway.db.audit_of("status_report")
    assert (entry.status, entry.error_message, entry.payment_id) == (Outcome.SUCCESS, "customer gone", stored.id)


@pytest.mark.parametrize(
    ("stored", "reported", "words"),
    [
        (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, "Error"),
        (PaymentStatus.SUCCEEDED, PaymentStatus.PENDING, "Wait"),
        (PaymentStatus.FAILED, PaymentStatus.SUCCEEDED, "Processed"),
        (PaymentStatus.REFUNDED, PaymentStatus.FAILED, "Error"),
    ],
)
async def test_an_illegal_transition_is_refused_without_asking_the_provider(
    gateway: InMemoryGateway, report_status: ReportPaymentStatus,
    stored: PaymentStatus, reported: PaymentStatus, words: str,
) -> None:
    seeded = payment(gateway, stored)

    with pytest.raises(IllegalTransition):
        await report_status.execute(report(reported, words))

    assert gateway.provider.fetch_requests == []
    assert gateway.db.payment(seeded.id).status is stored


@pytest.mark.parametrize(
    ("stored", "reported", "words"),
    [
        (PaymentStatus.PENDING, PaymentStatus.PENDING, "Wait"),
        (PaymentStatus.SUCCEEDED, PaymentStatus.SUCCEEDED, "Processed"),
        (PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.SUCCEEDED, "Processed"),
        (PaymentStatus.EXPIRED, PaymentStatus.FAILED, "Error"),
    ],
)
async def test_a_report_agreeing_with_the_stored_state_changes_nothing(
    gateway: InMemoryGateway, report_status: ReportPaymentStatus,
    stored: PaymentStatus, reported: PaymentStatus, words: str,
) -> None:
    seeded = payment(gateway, stored)
    version = gateway.db.payment(seeded.id).version

    result = await report_status.execute(report(reported, words))

    assert result.status is stored
    assert gateway.provider.fetch_requests == []
    assert gateway.db.payment(seeded.id).version == version
    assert [e.operation_type for e in gateway.db.audit] == ["status_report"]


@pytest.mark.parametrize(
    "changes",
    [
        {"shop_id": OTHER_SHOP},  # another seller's payment
        {"shops": frozenset({OTHER_SHOP})},  # a key that does not reach this shop
        {"external_id": "99999999999"},  # no such payment
    ],
)
async def test_a_payment_out_of_reach_does_not_exist(
    gateway: InMemoryGateway, report_status: ReportPaymentStatus, changes: dict[str, object]
) -> None:
    payment(gateway)
    with pytest.raises(PaymentNotFound):
        await report_status.execute(report(PaymentStatus.SUCCEEDED, "Processed", **changes))
    assert gateway.provider.fetch_requests == []


async def test_a_report_for_an_unknown_shop_is_refused(
    gateway: InMemoryGateway, report_status: ReportPaymentStatus
) -> None:
    with pytest.raises(ShopNotFound):
        await report_status.execute(report(PaymentStatus.SUCCEEDED, "Processed", shop_id=424242))


def test_a_client_cannot_report_a_refund_or_an_authorisation() -> None:
    with pytest.raises(ValueError, match="can report"):
        report(PaymentStatus.REFUNDED, "Processed")


@pytest.fixture
def record_log(gateway: InMemoryGateway) -> RecordClientLog:
    return gateway.container.record_client_log()


def log_entry(**changes: Any) -> ClientLogEntry:
    fields: dict[str, Any] = {
        "shop_id": SHOP, "provider": "kaspi", "organization_bin": SHOP_BIN, "operation_type": "create",
        "outcome": Outcome.PENDING, "external_id": EXTERNAL_ID, "amount": Money(500000, "KZT"),
        "error_message": None, "actor": "bitrix",
    }
    return ClientLogEntry(**(fields | changes))


async def test_a_client_log_entry_lands_in_the_audit_log_as_sent(
    gateway: InMemoryGateway, record_log: RecordClientLog
) -> None:
    await record_log.execute(log_entry())

    [entry] = gateway.db.audit
    assert (entry.operation_type, entry.status, entry.shop_id, entry.organization_bin, entry.external_id) == (
        "create", Outcome.PENDING, SHOP, SHOP_BIN, EXTERNAL_ID,
    )
    assert (entry.amount_minor, entry.currency, entry.provider, entry.actor, entry.created_at) == (
        500000, "KZT", "kaspi", "bitrix", START,
    )


async def test_a_client_log_entry_for_an_unknown_shop_is_refused(
    gateway: InMemoryGateway, record_log: RecordClientLog
) -> None:
    with pytest.raises(ShopNotFound):
        await record_log.execute(log_entry(shop_id=424242))
    assert gateway.db.audit == []


async def test_a_client_log_entry_with_a_bad_bin_is_refused(
    gateway: InMemoryGateway, record_log: RecordClientLog
) -> None:
    with pytest.raises(InvalidValue) as refused:
        await record_log.execute(log_entry(organization_bin="180340021792"))
    assert refused.value.field == "organization_bin"
    assert gateway.db.audit == []
