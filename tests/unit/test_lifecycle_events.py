"""Lifecycle events: one per real change, in the change's own transaction, in order, with public fields only."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import attrs
import pytest

from domain.events import Event, EventType
from domain.money import Money
from domain.payment import PaymentMethod, PaymentStatus
from domain.polling import PaymentCheck

from application.create_payment import CreatePaymentCommand
from application.errors import PaymentDeclined, ProviderDeclined, ProviderOutcomeUnknown, ProviderUnavailable
from application.ports import ProviderPayment, ProviderRefund
from application.refund_payment import RefundCommand

from tests.fakes.outbox import InMemoryCheckRepository
from tests.support.core import InMemoryGateway
from tests.unit.conftest import SHOP, START

pytestmark = pytest.mark.anyio

DEVICE_TOKEN = "8c7d1bd4-1d64-4bd1-9f3c-2c2c3b0f5a11"
EXTERNAL_ID = "12800627774"
WAITING = ProviderPayment(EXTERNAL_ID, "Wait", PaymentStatus.PENDING)
PAID = ProviderPayment(EXTERNAL_ID, "Processed", PaymentStatus.SUCCEEDED)


def bill(**changes: Any) -> CreatePaymentCommand:
    command = CreatePaymentCommand(
        shop_id=SHOP, provider="kaspi", method=PaymentMethod.REMOTE, amount=Money(500000, "KZT"),
        description="Order 1001", phone="+7 701 521 15 45", order_id="1001",
    )
    return attrs.evolve(command, **changes)


def events(gateway: InMemoryGateway) -> list[Event]:
    return [row.event for row in gateway.db.events]


async def test_an_accepted_payment_tells_it_was_created_and_starts_being_polled(gateway: InMemoryGateway) -> None:
    gateway.provider.will_create(WAITING)
    payment = await gateway.create.execute(bill())

    [created] = events(gateway)
    assert (created.type, created.payment_id, created.sequence, created.occurred_at) == (
        EventType.PAYMENT_CREATED, payment.id, 1, START,
    )
    view = created.data["payment"]
    assert (view["id"], view["status"], view["external_id"], view["amount"], view["currency"]) == (
        payment.id, "pending", EXTERNAL_ID, 500000, "KZT",
    )
    assert (view["shop_id"], view["order_id"], view["provider_status"]) == (SHOP, "1001", "Wait")
    assert gateway.db.checks[payment.id] == PaymentCheck(payment.id, next_check_at=START)


async def test_an_event_never_carries_a_credential_or_the_whole_phone(gateway: InMemoryGateway) -> None:
    gateway.provider.will_create(WAITING)
    await gateway.create.execute(bill())

    [created] = events(gateway)
    text = json.dumps(dict(created.data))
    assert created.data["payment"]["phone"] == "7701*****45"
    assert "77015211545" not in text
    assert DEVICE_TOKEN not in text


async def test_a_declined_payment_tells_only_that_it_failed_and_is_not_polled(gateway: InMemoryGateway) -> None:
    gateway.provider.will_create(ProviderDeclined("-1501", "Device not found"))
    with pytest.raises(PaymentDeclined):
        await gateway.create.execute(bill())

    [failed] = events(gateway)
    assert (failed.type, failed.data["payment"]["status"]) == (EventType.PAYMENT_FAILED, "failed")
    assert gateway.db.checks == {}


async def test_a_payment_whose_creation_is_in_doubt_tells_nothing_yet(gateway: InMemoryGateway) -> None:
    gateway.provider.will_create(ProviderUnavailable("read timeout", timed_out=True))
    with pytest.raises(ProviderOutcomeUnknown):
        await gateway.create.execute(bill())

    # Without Kaspi's id there is nothing to poll, and nothing happened that the marketplace can act on.
    assert events(gateway) == [] and gateway.db.checks == {}


async def test_a_payment_paid_at_once_tells_both_in_order(gateway: InMemoryGateway) -> None:
    gateway.provider.will_create(PAID)
    payment = await gateway.create.execute(bill())

    assert [(e.type, e.sequence) for e in events(gateway)] == [
        (EventType.PAYMENT_CREATED, 1), (EventType.PAYMENT_SUCCEEDED, 2),
    ]
    assert payment.id not in gateway.db.checks


async def test_each_change_of_a_payments_life_is_told_once_in_sequence(gateway: InMemoryGateway) -> None:
    gateway.provider.will_create(WAITING)
    payment = await gateway.create.execute(bill())
    gateway.provider.will_fetch(WAITING, PAID)
    await gateway.sync.refresh(payment)  # nothing new: no event
    paid = await gateway.sync.refresh(payment)
    await gateway.sync.refresh(paid)  # settled: not even asked
    gateway.provider.will_refund(ProviderRefund("r1"), ProviderDeclined("-99000005", "exceeds"))
    refund = await gateway.refund.execute(
        RefundCommand(shop_id=SHOP, provider="kaspi", external_id=EXTERNAL_ID, amount=Money(200000, "KZT"))
    )
    with pytest.raises(PaymentDeclined):
        await gateway.refund.execute(
            RefundCommand(shop_id=SHOP, provider="kaspi", external_id=EXTERNAL_ID, amount=Money(100000, "KZT"))
        )

    told = events(gateway)
    assert [(e.type, e.sequence) for e in told] == [
        (EventType.PAYMENT_CREATED, 1),
        (EventType.PAYMENT_SUCCEEDED, 2),
        (EventType.REFUND_SUCCEEDED, 3),
        (EventType.REFUND_FAILED, 4),
    ]
    assert len({e.id for e in told}) == 4
    refunded = told[2].data
    assert (refunded["refund"]["id"], refunded["refund"]["amount"], refunded["refund"]["status"]) == (
        refund.refund.id, 200000, "succeeded",
    )
    assert (refunded["payment"]["status"], refunded["payment"]["refunds"]) == (
        "partially_refunded", {"refunded": 200000, "pending": 0, "refundable": 300000},
    )
    assert told[3].data["refund"]["status"] == "failed"


async def test_two_answers_racing_to_settle_a_payment_make_one_event(gateway: InMemoryGateway) -> None:
    payment = gateway.seed_payment(SHOP, amount=Money(500000, "KZT"), status=PaymentStatus.PENDING)

    async def the_poller_answers_meanwhile(_operation: str, _request: object) -> None:
        await gateway.sync.apply(payment.id, PAID, actor="poller")

    gateway.provider.observers.append(the_poller_answers_meanwhile)
    gateway.provider.will_fetch(PAID)
    await gateway.sync.refresh(payment, actor="api")

    assert [e.type for e in events(gateway)] == [EventType.PAYMENT_SUCCEEDED]
    assert [e.actor for e in gateway.db.audit] == ["poller"]


async def test_an_error_after_the_lifetime_tells_of_an_expiry(gateway: InMemoryGateway) -> None:
    payment = gateway.seed_payment(SHOP, amount=Money(500000, "KZT"), status=PaymentStatus.PENDING)
    gateway.db.checks[payment.id] = PaymentCheck(payment.id, START)
    gateway.clock.advance(timedelta(hours=25))
    gateway.provider.will_fetch(ProviderPayment(EXTERNAL_ID, "Error", PaymentStatus.FAILED))

    await gateway.sync.refresh(payment)

    assert [e.type for e in events(gateway)] == [EventType.PAYMENT_EXPIRED]
    assert payment.id not in gateway.db.checks  # the API's refresh ends the polling too


async def test_an_event_and_its_change_are_stored_together_or_not_at_all(
    gateway: InMemoryGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    payment = gateway.seed_payment(SHOP, amount=Money(500000, "KZT"), status=PaymentStatus.PENDING)

    async def fail(_self: object, _payment_id: str) -> None:
        raise RuntimeError("connection lost before commit")

    monkeypatch.setattr(InMemoryCheckRepository, "remove", fail)
    with pytest.raises(RuntimeError):
        await gateway.sync.apply(payment.id, PAID)

    assert events(gateway) == [] and gateway.db.audit == []
    assert gateway.db.payment(payment.id).status is PaymentStatus.PENDING


async def test_a_phone_that_is_not_a_kaspi_mobile_is_still_masked_and_never_blocks_the_event(
    gateway: InMemoryGateway,
) -> None:
    payment = gateway.seed_payment(SHOP, amount=Money(500000, "KZT"), status=PaymentStatus.PENDING)
    gateway.db.payments[payment.id].phone = "+44 20 7946 0958"

    await gateway.sync.apply(payment.id, PAID)

    [paid] = events(gateway)
    assert paid.data["payment"]["phone"] == "**************58"
