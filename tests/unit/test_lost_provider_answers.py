"""A create whose provider answer never reached the database: flagged, never re-sent, and recoverable."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from domain.audit import Outcome
from domain.errors import InvalidValue
from domain.money import Money
from domain.payment import Payment, PaymentMethod, PaymentStatus

from application.create_payment import CreatePaymentCommand
from application.errors import OperationInProgress, ProviderOutcomeUnknown, ProviderUnavailable
from application.ports import ProviderPayment
from application.recover_payment import AttachExternalId
from application.sync_status import LOST_ANSWER, LOST_ANSWER_AFTER

from tests.support.core import InMemoryGateway
from tests.unit.conftest import SHOP

pytestmark = pytest.mark.anyio

EXTERNAL_ID = "12800627774"
TYPED = Decimal("5000.00")  # what the operator read in the Kaspi cabinet: the payment's 500 000 tiyn


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
    return gateway.container.attach_external_id()


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

    attached = await attach.execute(payment.id, EXTERNAL_ID, typed_amount=TYPED, actor="ops")
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
        await attach.execute(payment.id, EXTERNAL_ID, typed_amount=TYPED, actor="ops")
    gateway.clock.advance(LOST_ANSWER_AFTER)
    gateway.provider.will_fetch(ProviderPayment(EXTERNAL_ID, "Wait", PaymentStatus.PENDING))
    with pytest.raises(InvalidValue) as taken:
        await attach.execute(payment.id, answered.external_id or "", typed_amount=TYPED, actor="ops")
    with pytest.raises(InvalidValue) as has_answer:
        await attach.execute(answered.id, EXTERNAL_ID, typed_amount=TYPED, actor="ops")

    assert (in_flight.value.field, taken.value.field, has_answer.value.field) == ("payment_id", "external_id", "payment_id")
    assert gateway.db.payment(payment.id).external_id is None


async def test_attach_changes_nothing_when_the_provider_cannot_confirm_the_id(
    gateway: InMemoryGateway, attach: AttachExternalId
) -> None:
    payment = await died_mid_call(gateway)
    gateway.clock.advance(LOST_ANSWER_AFTER)
    gateway.provider.will_fetch(ProviderUnavailable("HTTP 502"))

    with pytest.raises(ProviderOutcomeUnknown):
        await attach.execute(payment.id, EXTERNAL_ID, typed_amount=TYPED, actor="ops")

    assert gateway.db.payment(payment.id).external_id is None


# --- Recovery that checks ---------------------------------------------------------------------------


async def lost(gateway: InMemoryGateway) -> Payment:
    payment = await died_mid_call(gateway)
    gateway.clock.advance(LOST_ANSWER_AFTER)
    return payment


@pytest.mark.parametrize("typed", [None, Decimal("1.00"), Decimal("5000.001"), Decimal("50")])
async def test_where_the_provider_does_not_say_the_amount_the_operator_must_type_the_payments(
    gateway: InMemoryGateway, attach: AttachExternalId, typed: Decimal | None
) -> None:
    payment = await lost(gateway)
    gateway.provider.will_fetch(ProviderPayment(EXTERNAL_ID, "Processed", PaymentStatus.SUCCEEDED))

    with pytest.raises(InvalidValue) as refused:
        await attach.execute(payment.id, EXTERNAL_ID, typed_amount=typed, actor="ops")

    assert refused.value.field == "amount"
    assert "5000" not in refused.value.message and "500000" not in refused.value.message  # nothing shown
    assert gateway.db.payment(payment.id).external_id is None
    [entry] = [e for e in gateway.db.audit_of("recover") if e.status is Outcome.ERROR]
    assert (entry.actor, entry.payment_id) == ("ops", payment.id)


async def test_the_providers_amount_must_be_the_payments(gateway: InMemoryGateway, attach: AttachExternalId) -> None:
    payment = await lost(gateway)
    # "A 1 tenge payment of another seller": the provider knows the id, for another amount.
    other = ProviderPayment(EXTERNAL_ID, "Processed", PaymentStatus.SUCCEEDED, amount=Money(100, "KZT"))
    gateway.provider.will_fetch(other, other)

    with pytest.raises(InvalidValue) as without_typing:
        await attach.execute(payment.id, EXTERNAL_ID, actor="ops")
    with pytest.raises(InvalidValue) as typed_right:
        await attach.execute(payment.id, EXTERNAL_ID, typed_amount=TYPED, actor="ops")

    assert without_typing.value.field == typed_right.value.field == "external_id"
    assert gateway.db.payment(payment.id).status is PaymentStatus.PENDING
    assert gateway.db.payment(payment.id).external_id is None


async def test_where_the_provider_says_the_amount_no_typing_is_needed(
    gateway: InMemoryGateway, attach: AttachExternalId
) -> None:
    payment = await lost(gateway)
    same = ProviderPayment(EXTERNAL_ID, "Processed", PaymentStatus.SUCCEEDED, amount=Money(500_000, "KZT"))
    gateway.provider.will_fetch(same)

    attached = await attach.execute(payment.id, EXTERNAL_ID, actor="ops")

    assert (attached.status, attached.external_id) == (PaymentStatus.SUCCEEDED, EXTERNAL_ID)


async def test_an_id_bound_to_another_payment_is_refused_before_the_provider_is_asked(
    gateway: InMemoryGateway, attach: AttachExternalId
) -> None:
    payment = await lost(gateway)
    gateway.seed_payment(SHOP, amount=Money(500_000, "KZT"), status=PaymentStatus.SUCCEEDED, external_id=EXTERNAL_ID)

    with pytest.raises(InvalidValue) as refused:
        await attach.execute(payment.id, EXTERNAL_ID, typed_amount=TYPED, actor="ops")

    assert refused.value.field == "external_id"
    assert gateway.provider.fetch_requests == []


async def test_check_verifies_and_changes_nothing(gateway: InMemoryGateway, attach: AttachExternalId) -> None:
    payment = await lost(gateway)
    gateway.provider.will_fetch(ProviderPayment(EXTERNAL_ID, "Processed", PaymentStatus.SUCCEEDED))

    checked = await attach.check(payment.id, EXTERNAL_ID, typed_amount=TYPED, actor="ops")

    assert (checked.payment.id, checked.observed.provider_status) == (payment.id, "Processed")
    assert gateway.db.payment(payment.id).external_id is None
    assert gateway.db.audit_of("recover") == []
