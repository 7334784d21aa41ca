"""Creating a payment: stored first, then the provider, then what the provider said; every refusal audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import attrs
import pytest

from domain.audit import Outcome
from domain.errors import InvalidValue
from domain.identifiers import Phone
from domain.money import Money
from domain.payment import Payment, PaymentMethod, PaymentStatus
from domain.seller_route import SellerRoute

from application.create_payment import CreatePaymentCommand
from application.errors import (
    DuplicateIdempotencyKey,
    OperationInProgress,
    PaymentDeclined,
    ProviderDeclined,
    ProviderNotConfigured,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
    RouteMissingCredentials,
    ShopInactive,
    ShopNotFound,
)
from application.ports import PaymentRequest, ProviderPayment

from tests.fakes import InMemoryRouteStore
from tests.support.core import InMemoryGateway
from tests.unit.conftest import OTHER_SHOP, SHOP, SHOP_BIN, START

pytestmark = pytest.mark.anyio

DEVICE_TOKEN = "8c7d1bd4-1d64-4bd1-9f3c-2c2c3b0f5a11"


def remote(**changes: Any) -> CreatePaymentCommand:
    command = CreatePaymentCommand(
        shop_id=SHOP,
        provider="kaspi",
        method=PaymentMethod.REMOTE,
        amount=Money(20000, "KZT"),
        description="roses",
        phone="+7 701 521 15 45",
        actor="key_shop",
    )
    return attrs.evolve(command, **changes)


def waiting(external_id: str = "12800627774", **changes: Any) -> ProviderPayment:
    return attrs.evolve(ProviderPayment(external_id, "Wait", PaymentStatus.PENDING), **changes)


def only_payment(gateway: InMemoryGateway) -> Payment:
    [payment] = gateway.db.payments.values()
    return payment


async def test_the_payment_row_is_committed_before_the_provider_is_called(gateway: InMemoryGateway) -> None:
    seen: list[tuple[list[Payment], int]] = []

    def look(_operation: str, request: object) -> None:
        seen.append((list(gateway.db.payments.values()), gateway.db.open_transactions))

    gateway.provider.observers.append(look)
    gateway.provider.will_create(waiting())
    await gateway.create.execute(remote(idempotency_key="k1"))

    [(stored, open_transactions)] = seen
    [payment] = stored
    assert (payment.status, payment.external_id, payment.idempotency_key) == (PaymentStatus.PENDING, None, "k1")
    assert open_transactions == 0  # no transaction is held across the provider call


async def test_an_accepted_payment_waits_with_the_providers_id_and_is_audited(gateway: InMemoryGateway) -> None:
    gateway.provider.will_create(waiting())
    returned = await gateway.create.execute(remote())

    stored = only_payment(gateway)
    assert returned.id == stored.id
    assert (stored.status, stored.external_id, stored.provider_status) == (PaymentStatus.PENDING, "12800627774", "Wait")
    assert (stored.phone, stored.merchant_account, stored.amount) == ("77015211545", SHOP_BIN, Money(20000, "KZT"))
    assert stored.expires_at == START + timedelta(hours=24)  # the provider's lifetime when it names no expiry
    assert stored.error_code is None
    [entry] = gateway.db.audit
    assert (entry.operation_type, entry.status, entry.actor) == ("create", Outcome.SUCCESS, "key_shop")
    assert (entry.shop_id, entry.organization_bin, entry.external_id, entry.payment_id) == (
        SHOP, SHOP_BIN, "12800627774", stored.id,
    )
    assert (entry.amount_minor, entry.currency, entry.provider) == (20000, "KZT", "kaspi")


async def test_an_answer_is_recorded_over_a_change_made_while_the_provider_was_asked(gateway: InMemoryGateway) -> None:
    # The stored copy is normally written back as a compare-and-set; if someone moved the payment
    # meanwhile (a recovery attaching the provider's id), the answer goes onto the newer row.
    recovered: list[int] = []

    async def recover_meanwhile(_operation: str, _request: object) -> None:
        async with gateway.db.unit_of_work() as uow:
            stored = only_payment(gateway)
            other = await uow.payments.get(stored.id, for_update=True)
            assert other is not None
            other.record_provider_acceptance(external_id="12800627774", provider_status="Wait", at=START)
            assert await uow.payments.update(other, other.version)
            await uow.commit()
        recovered.append(other.version)

    gateway.provider.observers.append(recover_meanwhile)
    gateway.provider.will_create(waiting(provider_status="RemotePaymentCreated"))
    returned = await gateway.create.execute(remote())

    stored = only_payment(gateway)
    assert (stored.version, stored.external_id, stored.provider_status) == (
        recovered[0] + 1, "12800627774", "RemotePaymentCreated",
    )
    assert returned.version == stored.version
    [entry] = gateway.db.audit
    assert (entry.operation_type, entry.status) == ("create", Outcome.SUCCESS)


async def test_the_provider_is_asked_on_the_sellers_own_account(gateway: InMemoryGateway) -> None:
    gateway.provider.will_create(waiting())
    payment = await gateway.create.execute(remote())

    [request] = gateway.provider.create_requests
    assert request == PaymentRequest(
        payment_id=payment.id,
        idempotency_key=payment.id,
        route=gateway.db.routes[(SHOP, "kaspi")],
        method=PaymentMethod.REMOTE,
        amount=Money(20000, "KZT"),
        description="roses",
        phone=Phone("77015211545"),
    )
    assert request.route.credentials.get("device_token") == DEVICE_TOKEN


async def test_a_link_payment_needs_no_phone_and_keeps_the_providers_link_and_expiry(gateway: InMemoryGateway) -> None:
    expires = START + timedelta(minutes=3)
    link = "https://pay.kaspi.kz/pay/" + "1" * 41
    gateway.provider.will_create(waiting("12800944903", payment_link=link, expires_at=expires))
    await gateway.create.execute(remote(method=PaymentMethod.LINK, phone=None))

    stored = only_payment(gateway)
    assert (stored.phone, stored.payment_link, stored.expires_at) == (None, link, expires)
    assert gateway.provider.create_requests[0].phone is None


async def test_a_payment_the_provider_settles_at_once_is_stored_settled(gateway: InMemoryGateway) -> None:
    gateway.provider.will_create(waiting(provider_status="Processed", outcome=PaymentStatus.SUCCEEDED))
    await gateway.create.execute(remote())
    assert only_payment(gateway).status is PaymentStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("arrange", "command", "refusal"),
    [
        (lambda g: None, remote(shop_id=999), ShopNotFound),
        (lambda g: g.seed_route(SHOP, SHOP_BIN, is_active=False), remote(), ShopInactive),
        (lambda g: g.seed_route(SHOP, SHOP_BIN, device_token=None), remote(), RouteMissingCredentials),
        (lambda g: g.seed_route(SHOP, SHOP_BIN, device_token=""), remote(), RouteMissingCredentials),
        (lambda g: g.seed_route(SHOP, "acct_1", provider="stripe"), remote(provider="stripe"), ProviderNotConfigured),
        (lambda g: None, remote(phone="12345"), InvalidValue),
        (lambda g: None, remote(phone=None), InvalidValue),
        (lambda g: None, remote(amount=Money(0, "KZT")), InvalidValue),
        (lambda g: None, remote(description="x" * 256), InvalidValue),
    ],
    ids=["unknown-shop", "inactive-shop", "no-device-token", "empty-device-token", "provider-not-configured",
         "bad-phone", "no-phone", "zero-amount", "long-description"],
)
async def test_a_refused_payment_is_audited_and_never_reaches_the_provider(
    gateway: InMemoryGateway,
    arrange: Callable[[InMemoryGateway], object],
    command: CreatePaymentCommand,
    refusal: type[Exception],
) -> None:
    arrange(gateway)
    with pytest.raises(refusal) as refused:
        await gateway.create.execute(command)

    assert gateway.db.payments == {}
    assert gateway.provider.create_requests == []
    [entry] = gateway.db.audit
    assert (entry.operation_type, entry.status, entry.shop_id, entry.actor) == (
        "create", Outcome.ERROR, command.shop_id, "key_shop",
    )
    assert (entry.amount_minor, entry.error_message) == (command.amount.minor, str(refused.value))


async def test_a_declined_payment_is_stored_failed_and_audited(gateway: InMemoryGateway) -> None:
    gateway.provider.will_create(ProviderDeclined("-1501", "device not found"))
    with pytest.raises(PaymentDeclined) as declined:
        await gateway.create.execute(remote())

    stored = only_payment(gateway)
    assert declined.value.reference == stored.id
    assert (stored.status, stored.error_code, stored.error_message) == (
        PaymentStatus.FAILED, "-1501", "device not found",
    )
    [entry] = gateway.db.audit
    assert (entry.operation_type, entry.status, entry.payment_id) == ("create", Outcome.ERROR, stored.id)
    assert "device not found" in (entry.error_message or "")


async def test_a_timeout_leaves_the_payment_pending_with_the_attempt_noted(gateway: InMemoryGateway) -> None:
    gateway.provider.will_create(ProviderUnavailable("read timeout", timed_out=True))
    with pytest.raises(ProviderOutcomeUnknown) as unknown:
        await gateway.create.execute(remote())

    stored = only_payment(gateway)
    assert (unknown.value.reference, unknown.value.timed_out) == (stored.id, True)
    assert (stored.status, stored.external_id) == (PaymentStatus.PENDING, None)
    assert (stored.error_code, stored.error_message) == ("provider_outcome_unknown", "read timeout")
    [entry] = gateway.db.audit
    assert (entry.operation_type, entry.status, entry.payment_id) == ("create", Outcome.PENDING, stored.id)
    assert "read timeout" in (entry.error_message or "")


async def test_a_retry_after_success_returns_the_same_payment_without_a_second_provider_call(
    gateway: InMemoryGateway,
) -> None:
    gateway.provider.will_create(waiting())
    first = await gateway.create.execute(remote(idempotency_key="k1"))
    again = await gateway.create.execute(remote(idempotency_key="k1"))

    assert again.id == first.id
    assert len(gateway.provider.create_requests) == 1
    assert len(gateway.db.payments) == 1
    assert len(gateway.db.audit_of("create")) == 1


async def test_a_retry_after_an_unknown_outcome_never_asks_the_provider_again(gateway: InMemoryGateway) -> None:
    # The proxy has no idempotency: a second create would push a second bill to the customer's phone.
    gateway.provider.will_create(ProviderUnavailable("read timeout", timed_out=True))
    with pytest.raises(ProviderOutcomeUnknown):
        await gateway.create.execute(remote(idempotency_key="k1"))
    with pytest.raises(ProviderOutcomeUnknown) as again:
        await gateway.create.execute(remote(idempotency_key="k1"))

    assert again.value.reference == only_payment(gateway).id
    assert len(gateway.provider.create_requests) == 1
    assert only_payment(gateway).status is PaymentStatus.PENDING


async def test_a_retry_after_a_decline_repeats_the_decline_without_asking_again(gateway: InMemoryGateway) -> None:
    gateway.provider.will_create(ProviderDeclined("-1502", "device inactive"))
    with pytest.raises(PaymentDeclined):
        await gateway.create.execute(remote(idempotency_key="k1"))
    with pytest.raises(PaymentDeclined) as again:
        await gateway.create.execute(remote(idempotency_key="k1"))

    assert again.value.provider_code == "-1502"
    assert len(gateway.provider.create_requests) == 1


async def test_a_retry_while_the_first_request_waits_on_the_provider_is_told_to_come_back(
    gateway: InMemoryGateway,
) -> None:
    retried: list[OperationInProgress] = []

    async def retry_meanwhile(_operation: str, _request: object) -> None:
        try:
            await gateway.create.execute(remote(idempotency_key="k1"))
        except OperationInProgress as exc:
            retried.append(exc)

    gateway.provider.observers.append(retry_meanwhile)
    gateway.provider.will_create(waiting())
    first = await gateway.create.execute(remote(idempotency_key="k1"))

    assert [e.reference for e in retried] == [first.id]
    assert len(gateway.provider.create_requests) == 1


async def test_an_idempotency_key_of_another_shop_neither_replays_its_payment_nor_creates_one(
    gateway: InMemoryGateway,
) -> None:
    gateway.provider.will_create(ProviderUnavailable("read timeout", timed_out=True))
    with pytest.raises(ProviderOutcomeUnknown):
        await gateway.create.execute(remote(idempotency_key="k1"))
    with pytest.raises(DuplicateIdempotencyKey):
        await gateway.create.execute(remote(shop_id=OTHER_SHOP, idempotency_key="k1"))

    assert len(gateway.db.payments) == 1
    assert len(gateway.provider.create_requests) == 1
    refusal = gateway.db.audit[-1]
    assert (refusal.shop_id, refusal.status, refusal.payment_id) == (OTHER_SHOP, Outcome.ERROR, None)


async def test_an_idempotency_key_reused_for_a_different_amount_is_refused(gateway: InMemoryGateway) -> None:
    gateway.provider.will_create(waiting())
    await gateway.create.execute(remote(idempotency_key="k1"))
    with pytest.raises(DuplicateIdempotencyKey):
        await gateway.create.execute(remote(idempotency_key="k1", amount=Money(90000, "KZT")))

    assert only_payment(gateway).amount == Money(20000, "KZT")
    assert gateway.db.audit[-1].status is Outcome.ERROR


class RouteDeactivatedAfterFirstRead(InMemoryRouteStore):
    """A route cache invalidated mid-request: the route is there once, then gone."""

    def __init__(self, gateway: InMemoryGateway) -> None:
        super().__init__(gateway.db)
        self._reads = 0

    async def get(self, shop_id: int, provider: str) -> SellerRoute | None:
        self._reads += 1
        return await super().get(shop_id, provider) if self._reads == 1 else None


async def test_a_route_change_during_the_request_cannot_strand_a_stored_payment(gateway: InMemoryGateway) -> None:
    gateway.override(gateway.container.route_store, RouteDeactivatedAfterFirstRead(gateway))
    gateway.provider.will_create(waiting())
    await gateway.create.execute(remote())

    stored = only_payment(gateway)
    assert stored.external_id == "12800627774"  # the payment that was stored went to the provider
    assert len(gateway.db.audit_of("create")) == 1
