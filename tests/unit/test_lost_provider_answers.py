"""A create whose provider answer never reached the database: flagged, never re-sent, and recoverable."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.create_payment import CreatePaymentCommand
from application.errors import OperationInProgress, ProviderOutcomeUnknown, ProviderUnavailable
from application.ports import ProviderPayment
from application.recover_payment import AttachExternalId
from application.sync_status import LOST_ANSWER, LOST_ANSWER_AFTER
from domain.audit import Outcome
from domain.errors import InvalidValue
from domain.money import Money
from domain.payment import Payment, PaymentMethod, PaymentStatus

from tests.fakes import InMemoryGateway
from tests.unit.conftest import SHOP

pytestmark = pytest.mark.anyio

EXTERNAL_ID = "12800627774"


class GatewayDied(BaseException):
    """What the use case sees of a kill -9 while the provider call is out: nothing after it runs."""


def command() -> CreatePaymentCommand:
    return CreatePaymentCommand(
        shop_id=SHOP, provider="kaspi", method=PaymentMethod.REMOTE, amount=Money(500_000, "KZT"),
        description="roses", phone="+7 701 521 15 45", idempotency_key="order-1001", actor="crm",
    )


async def died_mid_call(gateway: InMemoryGateway) -> Payment:
    """The payment as a killed gateway left it: stored, sent to Kaspi, the answer never recorded."""

    def die(_operation: str, _request: object) -> None:
        raise GatewayDied

    gateway.provider.observers.append(die)
    with pytest.raises(GatewayDied):
        await gateway.create.execute(command())
    gateway.provider.observers.clear()
    [payment] = gateway.db.payments.values()
    return gateway.db.payment(payment.id)


@pytest.fixture
def attach(gateway: InMemoryGateway) -> AttachExternalId:
    return AttachExternalId(
        uow=gateway.db.unit_of_work, routes=gateway.routes, providers=gateway.providers, sync=gateway.sync,
        clock=gateway.clock, ids=gateway.ids,
    )


async def test_a_lost_answer_is_flagged_once_by_status_sync_after_it_cannot_be_in_flight(gateway: InMemoryGateway) -> None:
    payment = await died_mid_call(gateway)

    soon = await gateway.get.by_id(payment.id, actor="ops")
    gateway.clock.advance(LOST_ANSWER_AFTER)
    flagged = await gateway.get.by_id(payment.id, actor="ops")
    again = await gateway.get.by_id(payment.id, actor="ops")

    assert (soon.status, soon.error_code) == (PaymentStatus.PENDING, None)
    assert (flagged.status, flagged.external_id) == (PaymentStatus.PENDING, None)
    assert (flagged.error_code, flagged.error_message) == ("provider_outcome_unknown", LOST_ANSWER)
    assert again.version == flagged.version
    [entry] = [e for e in gateway.db.audit_of("create") if e.status is Outcome.PENDING]
    assert (entry.payment_id, entry.actor) == (payment.id, "ops")
    assert len(gateway.provider.create_requests) == 1  # nothing asked the provider again


async def test_a_client_retry_never_sends_the_create_again_and_learns_the_outcome_is_unknown(
    gateway: InMemoryGateway,
) -> None:
    payment = await died_mid_call(gateway)

    with pytest.raises(OperationInProgress):
        await gateway.create.execute(command())  # it could still be in flight
    gateway.clock.advance(LOST_ANSWER_AFTER + timedelta(seconds=1))
    await gateway.get.by_id(payment.id)
    with pytest.raises(ProviderOutcomeUnknown) as unknown:
        await gateway.create.execute(command())

    assert unknown.value.reference == payment.id
    assert len(gateway.provider.create_requests) == 1
    assert len(gateway.db.payments) == 1


async def test_the_operator_attaches_the_providers_id_and_status_sync_settles_the_payment(
    gateway: InMemoryGateway, attach: AttachExternalId
) -> None:
    payment = await died_mid_call(gateway)
    gateway.clock.advance(LOST_ANSWER_AFTER)
    gateway.provider.will_fetch(
        ProviderPayment(EXTERNAL_ID, "Wait", PaymentStatus.PENDING),
        ProviderPayment(EXTERNAL_ID, "Processed", PaymentStatus.SUCCEEDED),
    )

    attached = await attach.execute(payment.id, EXTERNAL_ID, actor="ops")
    polled = payment.id in gateway.db.checks  # polled like any other open payment from now on
    settled = await gateway.get.by_external_id("kaspi", EXTERNAL_ID)

    assert (attached.status, attached.external_id, attached.provider_status) == (PaymentStatus.PENDING, EXTERNAL_ID, "Wait")
    assert attached.expires_at == payment.created_at + gateway.provider.profile.payment_lifetime
    assert settled.status is PaymentStatus.SUCCEEDED
    assert [e.actor for e in gateway.db.audit_of("recover")] == ["ops"]
    assert polled
    assert [external_id for _route, external_id in gateway.provider.fetch_requests] == [EXTERNAL_ID, EXTERNAL_ID]


async def test_attach_refuses_a_payment_that_may_still_be_in_flight_or_has_its_answer(
    gateway: InMemoryGateway, attach: AttachExternalId
) -> None:
    payment = await died_mid_call(gateway)
    answered = gateway.seed_payment(SHOP, amount=Money(1000, "KZT"), status=PaymentStatus.PENDING, external_id="12800000002")

    with pytest.raises(InvalidValue) as in_flight:
        await attach.execute(payment.id, EXTERNAL_ID, actor="ops")
    gateway.clock.advance(LOST_ANSWER_AFTER)
    gateway.provider.will_fetch(ProviderPayment(EXTERNAL_ID, "Wait", PaymentStatus.PENDING))
    with pytest.raises(InvalidValue) as taken:
        await attach.execute(payment.id, answered.external_id or "", actor="ops")
    with pytest.raises(InvalidValue) as has_answer:
        await attach.execute(answered.id, EXTERNAL_ID, actor="ops")

    assert (in_flight.value.field, taken.value.field, has_answer.value.field) == ("payment_id", "external_id", "payment_id")
    assert gateway.db.payment(payment.id).external_id is None


async def test_attach_changes_nothing_when_the_provider_cannot_confirm_the_id(
    gateway: InMemoryGateway, attach: AttachExternalId
) -> None:
    payment = await died_mid_call(gateway)
    gateway.clock.advance(LOST_ANSWER_AFTER)
    gateway.provider.will_fetch(ProviderUnavailable("HTTP 502"))

    with pytest.raises(ProviderOutcomeUnknown):
        await attach.execute(payment.id, EXTERNAL_ID, actor="ops")

    assert gateway.db.payment(payment.id).external_id is None
