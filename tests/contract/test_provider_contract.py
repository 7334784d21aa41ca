"""The provider conformance suite: every adapter, on its simulator, keeps the same promises.

Each module in tests/contract/harnesses/ (see tests/contract/harness.py) is one parameter: a new
provider joins the suite by adding its harness, nothing else.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from domain.capabilities import Capability
from domain.identifiers import Phone
from domain.money import Money
from domain.payment import PaymentStatus
from domain.refund import RefundStatus

from application.errors import ProviderDeclined, ProviderUnavailable
from application.ports import PaymentAction, PaymentRequest, ProviderPayment, RefundLookup, RefundRequest

import tests.contract.harnesses as harness_package
from tests.contract.harness import HarnessFactory, PendingRefunds, ProviderHarness

pytestmark = pytest.mark.anyio

DECLINED = frozenset({PaymentStatus.FAILED, PaymentStatus.CANCELLED})


def _harness_modules() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(harness_package.__path__))


@pytest.fixture(params=_harness_modules())
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[ProviderHarness]:
    module = importlib.import_module(f"{harness_package.__name__}.{request.param}")
    factory: HarnessFactory = module.harness
    async with factory() as harness:
        yield harness


def payment_request(harness: ProviderHarness, *, manual_capture: bool = False) -> PaymentRequest:
    payment_id = f"pay_{uuid.uuid4().hex}"
    return PaymentRequest(
        payment_id=payment_id,
        idempotency_key=payment_id,
        route=harness.route,
        method=harness.method,
        amount=harness.amount,
        description="Contract suite: 15 roses",
        phone=Phone(harness.phone) if harness.phone else None,
        order_id=f"order-{uuid.uuid4().hex[:12]}",
        customer_id="customer-contract",
        return_url="https://marketplace.example/orders/return",
        metadata={"order": "contract"},
        manual_capture=manual_capture,
    )


def refund_request(harness: ProviderHarness, external_id: str, amount: Money) -> RefundRequest:
    refund_id = f"re_{uuid.uuid4().hex}"
    return RefundRequest(
        refund_id=refund_id,
        idempotency_key=refund_id,
        route=harness.route,
        external_id=external_id,
        merchant_account=harness.route.merchant_account,
        amount=amount,
    )


async def paid_payment(harness: ProviderHarness) -> ProviderPayment:
    created = await harness.provider.create_payment(payment_request(harness))
    await harness.customer_pays(created.external_id)
    observed = await harness.provider.fetch_payment(harness.route, created.external_id)
    assert observed.outcome is PaymentStatus.SUCCEEDED, observed
    return observed


def minor(harness: ProviderHarness, units: int) -> Money:
    return Money(units, harness.amount.currency)


# --- create and status ------------------------------------------------------------------------------


async def test_a_created_payment_is_named_by_the_provider_and_waits_for_the_customer(subject: ProviderHarness) -> None:
    created = await subject.provider.create_payment(payment_request(subject))

    assert created.external_id
    assert created.outcome is PaymentStatus.PENDING, created
    assert created.provider_status


async def test_the_status_follows_the_customer_from_pending_to_paid(subject: ProviderHarness) -> None:
    created = await subject.provider.create_payment(payment_request(subject))

    waiting = await subject.provider.fetch_payment(subject.route, created.external_id)
    await subject.customer_pays(created.external_id)
    paid = await subject.provider.fetch_payment(subject.route, created.external_id)

    assert (waiting.external_id, waiting.outcome) == (created.external_id, PaymentStatus.PENDING)
    assert (paid.external_id, paid.outcome) == (created.external_id, PaymentStatus.SUCCEEDED)


async def test_a_declined_payment_is_a_result_not_an_exception(subject: ProviderHarness) -> None:
    created = await subject.provider.create_payment(payment_request(subject))

    await subject.customer_declines(created.external_id)
    observed = await subject.provider.fetch_payment(subject.route, created.external_id)

    assert observed.external_id == created.external_id
    if observed.outcome is PaymentStatus.PENDING:
        # Where the customer may try again on the same payment, a decline is noted, never final.
        assert observed.declined_attempt is not None, observed
    else:
        assert observed.outcome in DECLINED, observed


async def test_a_retry_after_a_decline_succeeds_where_the_provider_allows_one(subject: ProviderHarness) -> None:
    created = await subject.provider.create_payment(payment_request(subject))
    await subject.customer_declines(created.external_id)
    declined = await subject.provider.fetch_payment(subject.route, created.external_id)
    if declined.outcome is not PaymentStatus.PENDING:
        pytest.skip(f"{subject.provider.profile.name} closes a payment at its first decline")

    await subject.customer_pays(created.external_id)
    retried = await subject.provider.fetch_payment(subject.route, created.external_id)

    assert (retried.outcome, retried.declined_attempt) == (PaymentStatus.SUCCEEDED, None)
    # Charged once: the whole amount refunds, and nothing more does.
    await subject.provider.refund(refund_request(subject, created.external_id, subject.amount))
    with pytest.raises(ProviderDeclined):
        await subject.provider.refund(refund_request(subject, created.external_id, minor(subject, 100)))


# --- refunds ------------------------------------------------------------------------------------------


async def test_a_refund_beyond_what_remains_is_refused(subject: ProviderHarness) -> None:
    paid = await paid_payment(subject)
    total = subject.amount.minor
    if subject.provider.profile.supports(Capability.PARTIAL_REFUND):
        first = total // 2
        await subject.provider.refund(refund_request(subject, paid.external_id, minor(subject, first)))
        with pytest.raises(ProviderDeclined):
            await subject.provider.refund(refund_request(subject, paid.external_id, minor(subject, total - first + 100)))
        # The refusal took nothing: what remains can still be refunded.
        await subject.provider.refund(refund_request(subject, paid.external_id, minor(subject, total - first)))
    else:
        await subject.provider.refund(refund_request(subject, paid.external_id, subject.amount))
    with pytest.raises(ProviderDeclined):
        await subject.provider.refund(refund_request(subject, paid.external_id, minor(subject, 100)))


async def test_a_refund_larger_than_the_payment_is_refused(subject: ProviderHarness) -> None:
    paid = await paid_payment(subject)

    with pytest.raises(ProviderDeclined):
        await subject.provider.refund(refund_request(subject, paid.external_id, minor(subject, subject.amount.minor + 100)))


# --- unknown outcomes ----------------------------------------------------------------------------------


async def test_a_timeout_on_create_is_an_unknown_outcome(subject: ProviderHarness) -> None:
    await subject.next_call_times_out()

    with pytest.raises(ProviderUnavailable) as unknown:
        await subject.provider.create_payment(payment_request(subject))

    assert unknown.value.timed_out


async def test_a_timeout_on_a_refund_is_an_unknown_outcome(subject: ProviderHarness) -> None:
    paid = await paid_payment(subject)
    await subject.next_call_times_out()

    with pytest.raises(ProviderUnavailable) as unknown:
        await subject.provider.refund(refund_request(subject, paid.external_id, minor(subject, 100)))

    assert unknown.value.timed_out


# --- refunds followed to the provider's final word (where refunds can be pending and looked up) ---------


def pending_refunds(harness: ProviderHarness) -> PendingRefunds:
    if not harness.provider.profile.supports(Capability.REFUND_LOOKUP) or not isinstance(harness, PendingRefunds):
        pytest.skip(f"{harness.provider.profile.name} has no pending refunds to look up")
    return harness


def lookup_of(request: RefundRequest, *, external_id: str | None, age: timedelta = timedelta(0)) -> RefundLookup:
    created_at = datetime.now(UTC)
    return RefundLookup(
        refund_id=request.refund_id,
        idempotency_key=request.idempotency_key,
        route=request.route,
        payment_external_id=request.external_id,
        merchant_account=request.merchant_account,
        amount=request.amount,
        created_at=created_at,
        asked_at=created_at + age,
        external_id=external_id,
    )


@pytest.mark.parametrize("succeeds", [True, False], ids=["then-succeeded", "then-failed"])
async def test_a_refund_answered_pending_is_pending_until_the_providers_final_word(
    subject: ProviderHarness, succeeds: bool
) -> None:
    harness = pending_refunds(subject)
    paid = await paid_payment(subject)
    await harness.refunds_stay_pending()
    request = refund_request(subject, paid.external_id, minor(subject, 100))

    answer = await subject.provider.refund(request)
    assert answer.status is RefundStatus.PENDING and answer.external_id is not None
    still = await subject.provider.fetch_refund(lookup_of(request, external_id=answer.external_id))
    await harness.settle_refund(answer.external_id, succeed=succeeds)
    final = await subject.provider.fetch_refund(lookup_of(request, external_id=answer.external_id))

    assert still is not None and still.status is RefundStatus.PENDING
    assert final is not None and final.external_id == answer.external_id
    assert final.status is (RefundStatus.SUCCEEDED if succeeds else RefundStatus.FAILED)
    assert (final.failure_reason is None) is succeeds


async def test_a_refund_whose_answer_was_lost_is_found_again_and_never_made_twice(subject: ProviderHarness) -> None:
    harness = pending_refunds(subject)
    paid = await paid_payment(subject)
    request = refund_request(subject, paid.external_id, minor(subject, 100))
    await subject.next_call_times_out()
    with pytest.raises(ProviderUnavailable):
        await subject.provider.refund(request)

    found = await subject.provider.fetch_refund(lookup_of(request, external_id=None))
    again = await subject.provider.fetch_refund(lookup_of(request, external_id=None, age=timedelta(hours=30)))

    assert found is not None and found.status is RefundStatus.SUCCEEDED and found.external_id is not None
    assert again == found
    assert harness.refunds_held(paid.external_id) == 1


async def test_a_refund_the_provider_never_got_is_made_once_by_the_same_key_or_known_missing_later(
    subject: ProviderHarness,
) -> None:
    harness = pending_refunds(subject)
    paid = await paid_payment(subject)
    request = refund_request(subject, paid.external_id, minor(subject, 100))

    missing = await subject.provider.fetch_refund(lookup_of(request, external_id=None, age=timedelta(hours=30)))
    assert missing is None, "past the key's lifetime, a refund the provider does not list does not exist"
    assert harness.refunds_held(paid.external_id) == 0

    made = await subject.provider.fetch_refund(lookup_of(request, external_id=None))
    made_again = await subject.provider.fetch_refund(lookup_of(request, external_id=None))
    assert made is not None and made.status is RefundStatus.SUCCEEDED
    assert made_again == made
    assert harness.refunds_held(paid.external_id) == 1


# --- idempotency ---------------------------------------------------------------------------------------


async def test_the_idempotency_key_is_forwarded_on_every_write(subject: ProviderHarness) -> None:
    if subject.idempotency_header is None:
        pytest.skip(f"{subject.provider.profile.name} has no idempotency")
    header = subject.idempotency_header.lower()
    request = payment_request(subject)
    created = await subject.provider.create_payment(request)
    await subject.customer_pays(created.external_id)
    refund = refund_request(subject, created.external_id, minor(subject, 100))
    await subject.provider.refund(refund)

    keys = {seen.headers.get(header) for seen in subject.requests_seen() if seen.method == "POST"}

    assert request.idempotency_key in keys
    assert refund.idempotency_key in keys
    assert None not in keys, "every POST carries an idempotency key"


async def test_a_retried_create_with_the_same_key_opens_no_second_payment(subject: ProviderHarness) -> None:
    if subject.idempotency_header is None:
        pytest.skip(f"{subject.provider.profile.name} has no idempotency: the gateway never retries a create")
    request = payment_request(subject)

    first = await subject.provider.create_payment(request)
    second = await subject.provider.create_payment(request)

    assert second.external_id == first.external_id


# --- two-step payments, where the provider has them -----------------------------------------------------


async def authorized_payment(harness: ProviderHarness) -> ProviderPayment:
    created = await harness.provider.create_payment(payment_request(harness, manual_capture=True))
    await harness.customer_pays(created.external_id)
    observed = await harness.provider.fetch_payment(harness.route, created.external_id)
    assert observed.outcome is PaymentStatus.AUTHORIZED, observed
    return observed


def action(harness: ProviderHarness, external_id: str, name: str) -> PaymentAction:
    payment_id = f"pay_{uuid.uuid4().hex}"
    return PaymentAction(
        payment_id=payment_id,
        idempotency_key=f"{payment_id}-{name}",
        route=harness.route,
        external_id=external_id,
        amount=harness.amount,
    )


async def test_an_authorised_payment_is_captured(subject: ProviderHarness) -> None:
    if not subject.provider.profile.supports(Capability.TWO_STEP):
        pytest.skip(f"{subject.provider.profile.name} has no two-step payments")
    authorized = await authorized_payment(subject)

    captured = await subject.provider.capture(action(subject, authorized.external_id, "capture"))

    assert captured.outcome is PaymentStatus.SUCCEEDED, captured
    observed = await subject.provider.fetch_payment(subject.route, authorized.external_id)
    assert observed.outcome is PaymentStatus.SUCCEEDED


async def test_an_authorised_payment_is_cancelled(subject: ProviderHarness) -> None:
    profile = subject.provider.profile
    if not (profile.supports(Capability.TWO_STEP) and profile.supports(Capability.CANCEL)):
        pytest.skip(f"{profile.name} cannot cancel an authorised payment")
    authorized = await authorized_payment(subject)

    cancelled = await subject.provider.cancel(action(subject, authorized.external_id, "cancel"))

    assert cancelled.outcome is PaymentStatus.CANCELLED, cancelled


async def test_capturing_a_cancelled_payment_is_refused(subject: ProviderHarness) -> None:
    profile = subject.provider.profile
    if not (profile.supports(Capability.TWO_STEP) and profile.supports(Capability.CANCEL)):
        pytest.skip(f"{profile.name} has no two-step payments to cancel")
    authorized = await authorized_payment(subject)
    await subject.provider.cancel(action(subject, authorized.external_id, "cancel"))

    with pytest.raises(ProviderDeclined):
        await subject.provider.capture(action(subject, authorized.external_id, "capture"))


# --- secrets ----------------------------------------------------------------------------------------------


@pytest.fixture
def every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog at DEBUG on the root and on every logger that exists, so nothing is filtered out early."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


def _exception_text(error: BaseException) -> str:
    """The message, repr and traceback of `error` and of every exception chained to it."""
    return "".join(traceback.format_exception(error)) + repr(error) + str(error)


async def test_no_credential_reaches_a_log_line_or_an_error(
    subject: ProviderHarness, every_logger_at_debug: pytest.LogCaptureFixture
) -> None:
    """Every path that logs or raises, the unhappy ones most of all, at DEBUG on every logger."""
    errors: list[BaseException] = []

    async def attempt(call: Awaitable[object]) -> object:
        try:
            return await call
        except (ProviderDeclined, ProviderUnavailable) as error:
            errors.append(error)
            return None

    paid = await paid_payment(subject)
    await attempt(subject.provider.refund(refund_request(subject, paid.external_id, minor(subject, 100))))
    await attempt(subject.provider.refund(refund_request(subject, paid.external_id, minor(subject, subject.amount.minor * 2))))
    await attempt(subject.provider.fetch_payment(subject.route, "0" + paid.external_id[1:] + "9"))
    declined = await subject.provider.create_payment(payment_request(subject))
    await subject.customer_declines(declined.external_id)
    await attempt(subject.provider.fetch_payment(subject.route, declined.external_id))
    await subject.next_call_times_out()
    await attempt(subject.provider.create_payment(payment_request(subject)))
    await subject.next_call_times_out()
    await attempt(subject.provider.fetch_payment(subject.route, paid.external_id))

    assert errors, "the unhappy paths raised nothing: the test would prove nothing"
    seen = "\n".join(
        [repr(subject.provider), repr(subject.route)]
        + [f"{record.getMessage()} {record.__dict__!r}" for record in every_logger_at_debug.records]
        + [_exception_text(error) for error in errors]
    )
    for secret in subject.secrets:
        assert secret not in seen
