"""Every provider call is one structured log line, counted and timed, whatever its outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from domain.identifiers import Phone
from domain.money import Money
from domain.payment import PaymentMethod, PaymentStatus
from domain.seller_route import Credentials, SellerRoute

from application.errors import ProviderDeclined, ProviderUnavailable
from application.ports import PaymentRequest, ProviderPayment, ProviderRefund, RefundRequest

from adapters.metrics import PaygateMetrics
from adapters.providers.instrumented import InstrumentedProvider, ProviderCallBook, instrument

from tests.fakes import FakeProvider
from tests.support.logs import JsonLogs

NOW = datetime(2025, 10, 22, 12, 0, tzinfo=UTC)
DEVICE_TOKEN = "8c7d1bd4-1d64-4bd1-9f3c-2c2c3b0f5a11"
ROUTE = SellerRoute(
    shop_id=121038,
    provider="kaspi",
    merchant_account="920317450731",
    credentials=Credentials({"device_token": DEVICE_TOKEN}),
    is_active=True,
    created_at=NOW,
    updated_at=NOW,
)
CREATE = PaymentRequest(
    payment_id="pay_1",
    idempotency_key="pay_1",
    route=ROUTE,
    method=PaymentMethod.REMOTE,
    amount=Money(500_000, "KZT"),
    description="roses",
    phone=Phone("77015211545"),
)
REFUND = RefundRequest(
    refund_id="re_1", idempotency_key="re_1", route=ROUTE, external_id="12800000001",
    merchant_account="920317450731", amount=Money(1000, "KZT"),
)
ACCEPTED = ProviderPayment(external_id="12800000001", provider_status="Wait", outcome=PaymentStatus.PENDING)


@pytest.fixture(autouse=True)
def no_context() -> Iterator[None]:
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider("kaspi")


@pytest.fixture
def metrics() -> PaygateMetrics:
    return PaygateMetrics()


@pytest.fixture
def book() -> ProviderCallBook:
    return ProviderCallBook()


@pytest.fixture
def provider(fake: FakeProvider, metrics: PaygateMetrics, book: ProviderCallBook) -> InstrumentedProvider:
    wrapped = instrument({"kaspi": fake}, metrics=metrics, book=book)["kaspi"]
    assert isinstance(wrapped, InstrumentedProvider)
    return wrapped


async def provider_calls(metrics: PaygateMetrics) -> dict[tuple[str, str], float]:
    families = text_string_to_metric_families((await metrics.render({})).decode())
    return {
        (s.labels["operation"], s.labels["outcome"]): s.value
        for family in families
        for s in family.samples
        if s.name == "paygate_provider_calls_total"
    }


@pytest.mark.anyio
async def test_each_call_logs_one_line_with_payment_shop_provider_operation_outcome_and_duration(
    provider: InstrumentedProvider, fake: FakeProvider, json_logs: JsonLogs, metrics: PaygateMetrics
) -> None:
    json_logs.redactor.add(DEVICE_TOKEN)
    structlog.contextvars.bind_contextvars(request_id="req-42")
    fake.will_create(ACCEPTED)
    fake.will_fetch(ProviderUnavailable("kaspi status: no answer within 15 s", timed_out=True))
    fake.will_refund(ProviderDeclined("-99000005", "Refund amount exceeds the purchase amount"))

    assert await provider.create_payment(CREATE) == ACCEPTED
    with pytest.raises(ProviderUnavailable):
        await provider.fetch_payment(ROUTE, "12800000001")
    with pytest.raises(ProviderDeclined):
        await provider.refund(REFUND)

    created, fetched, refunded = json_logs.events("provider_call")
    assert {k: created[k] for k in ("payment_id", "shop_id", "provider", "operation", "outcome", "request_id", "level")} == {
        "payment_id": "pay_1", "shop_id": 121038, "provider": "kaspi", "operation": "create_payment",
        "outcome": "ok", "request_id": "req-42", "level": "info",
    }
    assert isinstance(created["duration_ms"], float)
    assert (fetched["external_id"], fetched["outcome"], fetched["level"]) == ("12800000001", "timeout", "warning")
    assert fetched["reason"] == "kaspi status: no answer within 15 s"
    assert (refunded["refund_id"], refunded["external_id"], refunded["outcome"]) == ("re_1", "12800000001", "declined")
    assert DEVICE_TOKEN not in json_logs.text
    assert await provider_calls(metrics) == {
        ("create_payment", "ok"): 1, ("fetch_payment", "timeout"): 1, ("refund", "declined"): 1,
    }


@pytest.mark.anyio
async def test_a_call_cancelled_midway_or_failing_against_the_port_is_still_observed(
    provider: InstrumentedProvider, fake: FakeProvider, json_logs: JsonLogs, metrics: PaygateMetrics
) -> None:
    entered = asyncio.Event()

    async def hang(_operation: str, _request: object) -> None:
        entered.set()
        await asyncio.Event().wait()

    fake.observers.append(hang)
    call = asyncio.ensure_future(provider.create_payment(CREATE))
    await entered.wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    fake.observers.clear()
    fake.will_capture(RuntimeError("an adapter bug"))
    with pytest.raises(RuntimeError):
        await provider.capture(CREATE)

    assert [e["outcome"] for e in json_logs.events("provider_call")] == ["cancelled", "error"]
    assert await provider_calls(metrics) == {("create_payment", "cancelled"): 1, ("capture", "error"): 1}


@pytest.mark.anyio
async def test_the_book_keeps_each_providers_last_outcome_for_health(
    provider: InstrumentedProvider, fake: FakeProvider, book: ProviderCallBook
) -> None:
    assert book.last("kaspi") is None
    fake.will_refund(ProviderUnavailable("HTTP 502"), ProviderUnavailable("HTTP 502"), ProviderRefund("1"))
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            await provider.refund(REFUND)
    failing = book.last("kaspi")
    await provider.refund(REFUND)
    recovered = book.last("kaspi")

    assert failing is not None and (failing.outcome, failing.consecutive_failures) == ("unavailable", 2)
    assert recovered is not None and (recovered.outcome, recovered.consecutive_failures) == ("ok", 0)


def test_the_wrapper_passes_everything_else_through(provider: InstrumentedProvider, fake: FakeProvider) -> None:
    assert provider.profile is fake.profile
    assert provider.unused_answers() == 0
