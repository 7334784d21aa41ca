"""Every status change says where it came from and when the provider was seen: payment, audit entry, event."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.events import Event
from domain.money import Money
from domain.payment import Payment, PaymentMethod, PaymentStatus
from domain.polling import PaymentCheck

from application.client_reports import StatusReport
from application.errors import PaymentDeclined, ProviderDeclined
from application.payment_requests import CreatePaymentCommand
from application.ports import ProviderNotice, ProviderPayment
from application.provenance import source_of

from tests.support.core import InMemoryGateway
from tests.unit.conftest import SHOP

pytestmark = pytest.mark.anyio

EXTERNAL_ID = "12800627774"
PAID = ProviderPayment(EXTERNAL_ID, "Processed", PaymentStatus.SUCCEEDED)


def waiting(gateway: InMemoryGateway) -> Payment:
    return gateway.seed_payment(SHOP, amount=Money(500000, "KZT"), status=PaymentStatus.PENDING, external_id=EXTERNAL_ID)


def last_event(gateway: InMemoryGateway, payment_id: str) -> Event:
    return [row.event for row in gateway.db.events if row.event.payment_id == payment_id][-1]


def assert_came_from(gateway: InMemoryGateway, payment_id: str, source: str) -> None:
    stored = gateway.db.payment(payment_id)
    entry = gateway.db.audit_of("status_change")[-1]
    event = last_event(gateway, payment_id)
    now = gateway.clock.now()
    assert (stored.status_source, stored.status_observed_at) == (source, now)
    assert (entry.source, entry.observed_at) == (source, now)
    assert event.data["source"] == source
    assert (event.data["payment"]["status_source"], event.data["payment"]["status_observed_at"]) == (source, now.isoformat())


@pytest.mark.parametrize(
    ("actor", "source"),
    [("poller", "poller"), ("webhook:stripe", "webhook:stripe"), ("cli", "operator:cli"), ("key_shop", "api")],
)
def test_a_change_made_for_an_actor_has_that_actors_source(actor: str, source: str) -> None:
    assert source_of(actor) == source


async def test_the_poller_records_itself_as_the_source(gateway: InMemoryGateway) -> None:
    payment = waiting(gateway)
    gateway.db.checks[payment.id] = PaymentCheck(payment.id, next_check_at=gateway.clock.now())
    gateway.provider.will_fetch(PAID)
    gateway.clock.advance(timedelta(minutes=1))

    await gateway.poll.sweep()

    assert_came_from(gateway, payment.id, "poller")


async def test_a_webhook_records_its_provider_as_the_source(gateway: InMemoryGateway) -> None:
    payment = waiting(gateway)
    notices = gateway.container.handle_provider_notice()

    await notices.execute(ProviderNotice("kaspi", EXTERNAL_ID, event_id="evt_1", observed=PAID))

    assert_came_from(gateway, payment.id, "webhook:kaspi")


async def test_a_confirmed_client_report_is_the_source_of_the_change(gateway: InMemoryGateway) -> None:
    payment = waiting(gateway)
    gateway.provider.will_fetch(PAID)
    report = gateway.container.report_payment_status()

    await report.execute(
        StatusReport(
            shop_id=SHOP, provider="kaspi", external_id=EXTERNAL_ID, status=PaymentStatus.SUCCEEDED,
            provider_status="Processed", actor="bitrix",
        )
    )

    assert_came_from(gateway, payment.id, "client_report")


async def test_a_create_the_provider_declines_has_the_api_as_its_source(gateway: InMemoryGateway) -> None:
    gateway.provider.will_create(ProviderDeclined("invalid_phone", "no such Kaspi customer"))

    with pytest.raises(PaymentDeclined):
        await gateway.create.execute(
            CreatePaymentCommand(
                shop_id=SHOP, provider="kaspi", method=PaymentMethod.REMOTE, amount=Money(20000, "KZT"),
                description="roses", phone="+7 701 521 15 45", actor="key_shop",
            )
        )

    [payment] = gateway.db.payments.values()
    assert (payment.status, payment.status_source, payment.status_observed_at) == (
        PaymentStatus.FAILED, "api", gateway.clock.now()
    )
    assert last_event(gateway, payment.id).data["source"] == "api"
