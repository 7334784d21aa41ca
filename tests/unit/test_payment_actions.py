"""Capture and cancel: capability checks, the one status-change path, unknown outcomes, audit."""

from __future__ import annotations

import copy

import attrs
import pytest

from domain.audit import Outcome
from domain.capabilities import Capability
from domain.money import Money
from domain.payment import Payment, PaymentMethod, PaymentStatus
from domain.seller_route import Credentials, SellerRoute

from application.cancel_payment import CancelPayment
from application.capture_payment import CapturePayment
from application.errors import (
    CapabilityNotSupported,
    PaymentDeclined,
    PaymentNotCancellable,
    PaymentNotCapturable,
    PaymentNotFound,
    ProviderDeclined,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
)
from application.ports import ProviderPayment

from tests.fakes import FakeProvider, FixedClock, InMemoryDatabase
from tests.support.core import InMemoryGateway
from tests.unit.conftest import START

pytestmark = pytest.mark.anyio

SHOP, OTHER_SHOP = 121038, 576631
TWO_STEP = frozenset({Capability.CLIENT_SECRET, Capability.TWO_STEP, Capability.CANCEL, Capability.PARTIAL_REFUND})


@attrs.define
class World:
    db: InMemoryDatabase
    clock: FixedClock
    two_step: FakeProvider
    kaspi: FakeProvider
    capture: CapturePayment
    cancel: CancelPayment

    def seed(
        self,
        *,
        provider: str = "stripe",
        status: PaymentStatus = PaymentStatus.AUTHORIZED,
        manual_capture: bool = True,
        shop_id: int = SHOP,
        external_id: str | None = "ext_1",
    ) -> Payment:
        payment = Payment(
            id=f"pay_{len(self.db.payments) + 1:04d}",
            shop_id=shop_id,
            provider=provider,
            method=PaymentMethod.CARD if provider == "stripe" else PaymentMethod.REMOTE,
            amount=Money(1_234_500, "KZT"),
            merchant_account="acct_1" if provider == "stripe" else "920317450731",
            description="roses",
            created_at=START,
            updated_at=START,
            status=status,
            provider_status=status.value,
            external_id=external_id,
            manual_capture=manual_capture,
        )
        self.db.payments[payment.id] = copy.deepcopy(payment)
        return payment

    def stored(self, payment: Payment) -> Payment:
        return self.db.payments[payment.id]


def answer(status: PaymentStatus, external_id: str = "ext_1") -> ProviderPayment:
    return ProviderPayment(external_id=external_id, provider_status=status.value, outcome=status)


@pytest.fixture
def world() -> World:
    """The container on the fakes, with a two-step card provider in Stripe's place beside Kaspi."""
    core = InMemoryGateway(now=START)
    two_step = FakeProvider("stripe", capabilities=TWO_STEP, default_method=PaymentMethod.CARD, credential_names=())
    core.override(core.container.stripe.enabled_adapter, two_step)
    for shop in (SHOP, OTHER_SHOP):
        for name, account in (("stripe", "acct_1"), ("kaspi", "920317450731")):
            core.db.routes[(shop, name)] = SellerRoute(
                shop_id=shop, provider=name, merchant_account=account, credentials=Credentials({"device_token": "t"}),
                is_active=True, created_at=START, updated_at=START,
            )
    return World(
        core.db, core.clock, two_step, core.provider, core.container.capture_payment(), core.container.cancel_payment()
    )


# --- capture ---------------------------------------------------------------------------------------


async def test_an_authorised_payment_is_captured_through_the_one_status_path(world: World) -> None:
    payment = world.seed()
    world.two_step.will_capture(answer(PaymentStatus.SUCCEEDED))

    captured = await world.capture.execute(payment.id, actor="crm")

    assert captured.status is PaymentStatus.SUCCEEDED
    assert world.stored(payment).status is PaymentStatus.SUCCEEDED
    [(operation, action)] = world.two_step.action_requests
    assert (operation, action.external_id, action.amount) == ("capture", "ext_1", payment.amount)
    assert action.idempotency_key == f"{payment.id}-capture"
    assert [(e.status, e.actor) for e in world.db.audit_of("capture")] == [(Outcome.SUCCESS, "crm")]
    assert [e.status for e in world.db.audit_of("status_change")] == [Outcome.SUCCESS]


async def test_a_retried_capture_sends_the_same_idempotency_key(world: World) -> None:
    payment = world.seed()
    world.two_step.will_capture(ProviderUnavailable("timeout", timed_out=True), answer(PaymentStatus.SUCCEEDED))

    with pytest.raises(ProviderOutcomeUnknown):
        await world.capture.execute(payment.id)
    await world.capture.execute(payment.id)

    keys = {action.idempotency_key for _operation, action in world.two_step.action_requests}
    assert keys == {f"{payment.id}-capture"}


async def test_a_provider_without_two_step_payments_is_refused_before_any_call(world: World) -> None:
    payment = world.seed(provider="kaspi", status=PaymentStatus.SUCCEEDED, manual_capture=False)

    with pytest.raises(CapabilityNotSupported) as refused:
        await world.capture.execute(payment.id)

    assert (refused.value.provider, refused.value.capability) == ("kaspi", "two_step")
    assert world.kaspi.action_requests == []
    [entry] = world.db.audit_of("capture")
    assert (entry.status, entry.payment_id) == (Outcome.ERROR, payment.id)


@pytest.mark.parametrize(
    ("status", "manual_capture"),
    [
        (PaymentStatus.SUCCEEDED, True),  # captured already
        (PaymentStatus.CANCELLED, True),
        (PaymentStatus.FAILED, True),
        (PaymentStatus.AUTHORIZED, False),  # cannot happen, but a one-step payment is never captured
    ],
)
async def test_only_an_authorised_two_step_payment_can_be_captured(
    world: World, status: PaymentStatus, manual_capture: bool
) -> None:
    payment = world.seed(status=status, manual_capture=manual_capture)

    with pytest.raises(PaymentNotCapturable):
        await world.capture.execute(payment.id)

    assert world.two_step.action_requests == []
    assert world.stored(payment).status is status


async def test_a_pending_payment_the_customer_has_authorised_since_is_captured(world: World) -> None:
    payment = world.seed(status=PaymentStatus.PENDING)
    world.two_step.will_fetch(answer(PaymentStatus.AUTHORIZED))
    world.two_step.will_capture(answer(PaymentStatus.SUCCEEDED))

    captured = await world.capture.execute(payment.id)

    assert captured.status is PaymentStatus.SUCCEEDED


async def test_an_unknown_capture_outcome_leaves_the_payment_as_it_was(world: World) -> None:
    payment = world.seed()
    world.two_step.will_capture(ProviderUnavailable("connection reset"))

    with pytest.raises(ProviderOutcomeUnknown) as unknown:
        await world.capture.execute(payment.id)

    assert unknown.value.reference == payment.id
    stored = world.stored(payment)
    assert (stored.status, stored.version, stored.error_code) == (PaymentStatus.AUTHORIZED, payment.version, None)
    [entry] = world.db.audit_of("capture")
    assert entry.status is Outcome.PENDING


async def test_a_declined_capture_changes_nothing_and_says_why(world: World) -> None:
    payment = world.seed()
    world.two_step.will_capture(ProviderDeclined("authorization_expired", "the authorisation expired"))

    with pytest.raises(PaymentDeclined) as declined:
        await world.capture.execute(payment.id)

    assert declined.value.provider_code == "authorization_expired"
    assert world.stored(payment).status is PaymentStatus.AUTHORIZED
    [entry] = world.db.audit_of("capture")
    assert entry.status is Outcome.ERROR


async def test_an_answer_that_settles_nothing_yet_is_left_to_status_sync(world: World) -> None:
    payment = world.seed()
    world.two_step.will_capture(answer(PaymentStatus.PENDING))

    result = await world.capture.execute(payment.id)

    assert result.status is PaymentStatus.AUTHORIZED
    assert world.stored(payment).status is PaymentStatus.AUTHORIZED


async def test_another_shops_payment_does_not_exist_for_a_restricted_caller(world: World) -> None:
    payment = world.seed(shop_id=OTHER_SHOP)

    with pytest.raises(PaymentNotFound):
        await world.capture.execute(payment.id, shops={SHOP})
    with pytest.raises(PaymentNotFound):
        await world.cancel.execute(payment.id, shops={SHOP})

    assert world.two_step.action_requests == []


# --- cancel ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [PaymentStatus.AUTHORIZED, PaymentStatus.PENDING])
async def test_an_open_payment_is_cancelled(world: World, status: PaymentStatus) -> None:
    payment = world.seed(status=status)
    world.two_step.will_cancel(answer(PaymentStatus.CANCELLED))

    cancelled = await world.cancel.execute(payment.id, actor="crm")

    assert cancelled.status is PaymentStatus.CANCELLED
    [(operation, action)] = world.two_step.action_requests
    assert (operation, action.idempotency_key) == ("cancel", f"{payment.id}-cancel")
    assert [e.status for e in world.db.audit_of("cancel")] == [Outcome.SUCCESS]


@pytest.mark.parametrize("status", [PaymentStatus.SUCCEEDED, PaymentStatus.CANCELLED, PaymentStatus.REFUNDED])
async def test_a_settled_payment_cannot_be_cancelled(world: World, status: PaymentStatus) -> None:
    payment = world.seed(status=status)

    with pytest.raises(PaymentNotCancellable):
        await world.cancel.execute(payment.id)

    assert world.two_step.action_requests == []
    assert [e.status for e in world.db.audit_of("cancel")] == [Outcome.ERROR]


async def test_a_payment_the_provider_never_named_cannot_be_cancelled(world: World) -> None:
    payment = world.seed(status=PaymentStatus.PENDING, external_id=None)

    with pytest.raises(PaymentNotCancellable):
        await world.cancel.execute(payment.id)


async def test_cancel_at_a_provider_that_cannot_is_refused(world: World) -> None:
    payment = world.seed(provider="kaspi", status=PaymentStatus.PENDING, manual_capture=False)

    with pytest.raises(CapabilityNotSupported):
        await world.cancel.execute(payment.id)

    assert world.kaspi.action_requests == []


async def test_a_cancel_too_late_is_the_providers_refusal(world: World) -> None:
    payment = world.seed(status=PaymentStatus.PENDING)
    world.two_step.will_cancel(ProviderDeclined("payment_not_cancellable", "payment ext_1 is succeeded"))

    with pytest.raises(PaymentDeclined):
        await world.cancel.execute(payment.id)

    assert world.stored(payment).status is PaymentStatus.PENDING
