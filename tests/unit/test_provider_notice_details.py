"""A trusted webhook snapshot that names a detail only by id (Stripe's Charge, which tells the wallet that
paid): one fetch, outside any transaction, joins the detail to the snapshot's change; without an
answer the snapshot's change stands alone."""

from __future__ import annotations

import pytest

from domain.audit import Outcome
from domain.money import Money
from domain.payment import Payment, PaymentStatus

from application.errors import ProviderUnavailable
from application.ports import ProviderNotice, ProviderPayment
from application.provider_notices import HandleProviderNotice, NoticeResult

from tests.support.core import InMemoryGateway
from tests.unit.conftest import SHOP

pytestmark = pytest.mark.anyio

EXTERNAL_ID = "pi_3Tulips"
# The event's snapshot: paid, its Charge named by id only, so no wallet.
SNAPSHOT = ProviderPayment(EXTERNAL_ID, "succeeded", PaymentStatus.SUCCEEDED)
FETCHED = ProviderPayment(EXTERNAL_ID, "succeeded", PaymentStatus.SUCCEEDED, wallet="apple_pay")


def waiting(gateway: InMemoryGateway) -> Payment:
    return gateway.seed_payment(SHOP, amount=Money(4900, "USD"), status=PaymentStatus.PENDING, external_id=EXTERNAL_ID)


def handler(gateway: InMemoryGateway) -> HandleProviderNotice:
    return HandleProviderNotice(
        uow=gateway.db.unit_of_work, sync=gateway.sync, refunds=gateway.refund_status, clock=gateway.clock
    )


def notice(*, fetch_details: bool = True, event_id: str = "evt_3Paid") -> ProviderNotice:
    return ProviderNotice("kaspi", EXTERNAL_ID, event_id=event_id, observed=SNAPSHOT, fetch_details=fetch_details)


def event_types(gateway: InMemoryGateway) -> list[str]:
    return [stored.event.type.value for stored in gateway.db.events]


async def test_the_wallet_the_provider_tells_joins_the_webhooks_change(gateway: InMemoryGateway) -> None:
    payment = waiting(gateway)
    gateway.provider.will_fetch(FETCHED)

    assert await handler(gateway).execute(notice()) is NoticeResult.APPLIED

    stored = gateway.db.payment(payment.id)
    assert (stored.status, stored.wallet, stored.status_source) == (PaymentStatus.SUCCEEDED, "apple_pay", "webhook:kaspi")
    assert stored.version == payment.version + 1  # one change: the settle and the wallet together
    [entry] = gateway.db.audit
    assert (entry.operation_type, entry.status, entry.actor) == ("status_change", Outcome.SUCCESS, "webhook:kaspi")
    [told] = gateway.db.events
    assert (told.event.type.value, told.event.data["payment"]["wallet"]) == ("payment.succeeded", "apple_pay")
    assert gateway.provider.fetch_requests == [(gateway.db.routes[(SHOP, "kaspi")], EXTERNAL_ID)]


@pytest.mark.parametrize(
    "answer",
    [ProviderUnavailable("stripe status: HTTP 503", timed_out=False), ProviderUnavailable("stripe status: timed out", timed_out=True)],
)
async def test_a_provider_that_does_not_answer_leaves_the_webhooks_settle_standing(
    gateway: InMemoryGateway, answer: ProviderUnavailable
) -> None:
    payment = waiting(gateway)
    gateway.provider.will_fetch(answer)

    assert await handler(gateway).execute(notice()) is NoticeResult.APPLIED

    stored = gateway.db.payment(payment.id)
    assert (stored.status, stored.wallet, stored.status_source) == (PaymentStatus.SUCCEEDED, None, "webhook:kaspi")
    assert event_types(gateway) == ["payment.succeeded"]
    # The unanswered question is on record beside the change.
    assert [(e.operation_type, e.status) for e in gateway.db.audit] == [
        ("status", Outcome.ERROR), ("status_change", Outcome.SUCCESS)
    ]


async def test_a_plain_card_settles_without_a_wallet(gateway: InMemoryGateway) -> None:
    payment = waiting(gateway)
    gateway.provider.will_fetch(SNAPSHOT)

    await handler(gateway).execute(notice())

    stored = gateway.db.payment(payment.id)
    assert (stored.status, stored.wallet) == (PaymentStatus.SUCCEEDED, None)


async def test_a_snapshot_that_tells_everything_is_applied_without_asking(gateway: InMemoryGateway) -> None:
    payment = waiting(gateway)

    await handler(gateway).execute(notice(fetch_details=False))

    assert gateway.db.payment(payment.id).status is PaymentStatus.SUCCEEDED
    assert gateway.provider.fetch_requests == []


async def test_a_payment_already_paid_is_not_asked_about_again(gateway: InMemoryGateway) -> None:
    """Settled meanwhile (the poller's answer, which tells the wallet, came first): nothing to join."""
    payment = gateway.seed_payment(SHOP, amount=Money(4900, "USD"), status=PaymentStatus.SUCCEEDED, external_id=EXTERNAL_ID)

    assert await handler(gateway).execute(notice()) is NoticeResult.APPLIED

    assert gateway.provider.fetch_requests == []
    assert gateway.db.payment(payment.id).version == payment.version


async def test_a_wallet_told_after_another_answer_settled_the_payment_is_still_recorded(gateway: InMemoryGateway) -> None:
    """A sync that read the Charge loses the race to a webhook whose snapshot named none: its wallet counts."""
    payment = waiting(gateway)
    await gateway.sync.apply(payment.id, SNAPSHOT, actor="webhook:kaspi")

    late = await gateway.sync.apply(payment.id, FETCHED, actor="poller")

    stored = gateway.db.payment(payment.id)
    assert (late.wallet, stored.wallet, stored.status_source) == ("apple_pay", "apple_pay", "webhook:kaspi")
    assert event_types(gateway) == ["payment.succeeded"]  # a detail, not a status change: told nowhere else
    assert [e.operation_type for e in gateway.db.audit] == ["status_change"]


async def test_a_late_answer_never_gives_a_closed_payment_a_wallet(gateway: InMemoryGateway) -> None:
    payment = gateway.seed_payment(SHOP, amount=Money(4900, "USD"), status=PaymentStatus.CANCELLED, external_id=EXTERNAL_ID)
    cancelled = ProviderPayment(EXTERNAL_ID, "canceled", PaymentStatus.CANCELLED, wallet="apple_pay")

    await gateway.sync.apply(payment.id, cancelled, actor="poller")

    assert gateway.db.payment(payment.id).wallet is None


async def test_a_late_success_told_by_webhook_records_the_wallet_too(gateway: InMemoryGateway) -> None:
    """Paid at the provider after the payment was cancelled here: the money and how it was paid, both kept."""
    payment = gateway.seed_payment(SHOP, amount=Money(4900, "USD"), status=PaymentStatus.CANCELLED, external_id=EXTERNAL_ID)
    gateway.provider.will_fetch(FETCHED)

    await handler(gateway).execute(notice())

    stored = gateway.db.payment(payment.id)
    assert (stored.status, stored.error_code, stored.wallet) == (PaymentStatus.SUCCEEDED, "late_success", "apple_pay")
    assert event_types(gateway) == ["payment.late_success"]
