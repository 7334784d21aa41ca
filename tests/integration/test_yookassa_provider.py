"""The YooKassa adapter over real HTTP on 127.0.0.1, against the YooKassa simulator."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import anyio
import httpx
import pytest

from domain.money import Money
from domain.payment import PaymentMethod, PaymentStatus
from domain.seller_route import Credentials, SellerRoute

from application.errors import ProviderDeclined, ProviderUnavailable
from application.ports import PaymentAction, PaymentRequest, RefundRequest

from adapters.providers.http_client import build_http_client
from adapters.providers.yookassa.provider import SECRET_KEY, YooKassaProvider

from tests.support.yookassa import YooKassaSimulatorServer, new_shop, run_yookassa_simulator

NOW = datetime(2025, 10, 22, 12, 0, tzinfo=UTC)
RETURN_URL = "https://cvety.example/orders/1001"
TIMEOUT = 2.0
SHOP_A = new_shop()
SHOP_B = new_shop()

pytestmark = pytest.mark.anyio


def rub(minor: int) -> Money:
    return Money(minor, "RUB")


def make_route(shop: tuple[str, str], *, shop_id: int = 121038, secret: str | None = None) -> SellerRoute:
    return SellerRoute(
        shop_id=shop_id,
        provider="yookassa",
        merchant_account=shop[0],
        credentials=Credentials({SECRET_KEY: secret if secret is not None else shop[1]}),
        is_active=True,
        created_at=NOW,
        updated_at=NOW,
    )


def payment(route: SellerRoute, minor: int = 59900, *, two_step: bool = False, key: str | None = None) -> PaymentRequest:
    payment_id = f"pay_{uuid.uuid4().hex}"
    return PaymentRequest(
        payment_id=payment_id,
        idempotency_key=key or payment_id,
        route=route,
        method=PaymentMethod.REDIRECT,
        amount=rub(minor),
        description="Roses, 15 stems",
        order_id="1001",
        return_url=RETURN_URL,
        metadata={"city": "Almaty"},
        manual_capture=two_step,
    )


def action(route: SellerRoute, external_id: str, operation: str, minor: int = 59900) -> PaymentAction:
    return PaymentAction(
        payment_id="pay_x", idempotency_key=f"pay_x-{operation}-{uuid.uuid4().hex}", route=route,
        external_id=external_id, amount=rub(minor),
    )


def refund(route: SellerRoute, external_id: str, minor: int) -> RefundRequest:
    refund_id = f"re_{uuid.uuid4().hex}"
    return RefundRequest(
        refund_id=refund_id, idempotency_key=refund_id, route=route, external_id=external_id,
        merchant_account=route.merchant_account, amount=rub(minor),
    )


@pytest.fixture
def simulator() -> Iterator[YooKassaSimulatorServer]:
    with run_yookassa_simulator(shops=dict([SHOP_A, SHOP_B]), hang_seconds=3 * TIMEOUT) as running:
        yield running


@pytest.fixture
async def provider(simulator: YooKassaSimulatorServer) -> AsyncIterator[YooKassaProvider]:
    async with build_http_client(timeout=TIMEOUT) as client:
        yield YooKassaProvider(client=client, base_url=simulator.api_url, timeout=TIMEOUT)


def basic(shop: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{shop[0]}:{shop[1]}".encode()).decode()


# --- Checkout, one step and two -------------------------------------------------------------------


async def test_a_redirect_checkout_is_created_on_the_sellers_shop_with_exact_amounts(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    request = payment(make_route(SHOP_A), 59950)
    created = await provider.create_payment(request)

    assert (created.provider_status, created.outcome) == ("pending", PaymentStatus.PENDING)
    assert created.checkout_url == f"{simulator.control_url}/checkout/{created.external_id}"
    seen = simulator.state.requests[-1]
    assert (seen.method, seen.path, seen.shop_id) == ("POST", "/sandbox/yookassa/v3/payments", SHOP_A[0])
    assert seen.headers["idempotence-key"] == request.idempotency_key
    body = json.loads(seen.body)
    assert body["amount"] == {"value": "599.50", "currency": "RUB"}  # a string, never a JSON number
    assert body["confirmation"] == {"type": "redirect", "return_url": RETURN_URL}
    assert body["capture"] is True
    assert body["metadata"] == {"city": "Almaty", "paygate_payment_id": request.payment_id, "paygate_order_id": "1001"}
    # The customer's checkout page exists where the URL says.
    async with httpx.AsyncClient() as browser:
        page = await browser.get(created.checkout_url)
    assert page.status_code == 200 and "599.50 RUB" in page.text


async def test_a_paid_one_step_payment_succeeds(provider: YooKassaProvider, simulator: YooKassaSimulatorServer) -> None:
    route = make_route(SHOP_A)
    created = await provider.create_payment(payment(route))
    assert (await provider.fetch_payment(route, created.external_id)).outcome is PaymentStatus.PENDING

    simulator.state.pay(created.external_id)

    fetched = await provider.fetch_payment(route, created.external_id)
    assert (fetched.external_id, fetched.provider_status, fetched.outcome) == (
        created.external_id, "succeeded", PaymentStatus.SUCCEEDED,
    )
    assert fetched.checkout_url is None


async def test_a_two_step_payment_is_authorized_then_captured(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    route = make_route(SHOP_A)
    created = await provider.create_payment(payment(route, two_step=True))
    assert json.loads(simulator.state.requests[-1].body)["capture"] is False
    simulator.state.pay(created.external_id)
    assert (await provider.fetch_payment(route, created.external_id)).outcome is PaymentStatus.AUTHORIZED

    captured = await provider.capture(action(route, created.external_id, "capture"))

    assert (captured.provider_status, captured.outcome) == ("succeeded", PaymentStatus.SUCCEEDED)
    seen = simulator.state.requests[-1]
    assert seen.path.endswith(f"/payments/{created.external_id}/capture")
    assert json.loads(seen.body) == {"amount": {"value": "599.00", "currency": "RUB"}}
    assert seen.headers["idempotence-key"].startswith("pay_x-capture-")


async def test_an_authorized_payment_is_cancelled_with_the_reason_kept(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    route = make_route(SHOP_A)
    created = await provider.create_payment(payment(route, two_step=True))
    simulator.state.pay(created.external_id)

    cancelled = await provider.cancel(action(route, created.external_id, "cancel"))

    assert (cancelled.provider_status, cancelled.outcome) == ("canceled", PaymentStatus.CANCELLED)
    assert cancelled.failure_reason == "canceled: canceled_by_merchant (merchant)"


async def test_cancelling_a_pending_payment_is_refused_by_yookassa(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    route = make_route(SHOP_A)
    created = await provider.create_payment(payment(route, two_step=True))
    with pytest.raises(ProviderDeclined) as refused:
        await provider.cancel(action(route, created.external_id, "cancel"))
    assert refused.value.code == "invalid_request"
    stored = simulator.state.payment(created.external_id)
    assert stored is not None and stored.status == "pending"


async def test_a_declined_payment_is_a_cancellation_with_the_banks_reason(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    route = make_route(SHOP_A)
    created = await provider.create_payment(payment(route))
    simulator.state.decline(created.external_id, reason="insufficient_funds", party="payment_network")

    fetched = await provider.fetch_payment(route, created.external_id)

    assert (fetched.provider_status, fetched.outcome) == ("canceled", PaymentStatus.CANCELLED)
    assert fetched.failure_reason == "canceled: insufficient_funds (payment_network)"


# --- Refunds --------------------------------------------------------------------------------------


async def test_partial_refunds_add_up_to_the_payment_and_no_further(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    route = make_route(SHOP_A)
    created = await provider.create_payment(payment(route, 100000))
    simulator.state.pay(created.external_id)

    first = await provider.refund(refund(route, created.external_id, 30000))
    second = await provider.refund(refund(route, created.external_id, 70000))
    with pytest.raises(ProviderDeclined) as refused:
        await provider.refund(refund(route, created.external_id, 1))

    assert first.external_id != second.external_id
    assert refused.value.code == "invalid_request" and "amount.value" in refused.value.message
    simulated = simulator.state.payment(created.external_id)
    assert simulated is not None and simulated.refunded == 1000
    sent = json.loads(simulator.state.requests[-2].body)
    assert sent == {
        "payment_id": created.external_id,
        "amount": {"value": "700.00", "currency": "RUB"},
        "metadata": {"paygate_refund_id": sent["metadata"]["paygate_refund_id"]},
    }
    assert sent["metadata"]["paygate_refund_id"].startswith("re_")


async def test_an_unpaid_payment_cannot_be_refunded(provider: YooKassaProvider) -> None:
    route = make_route(SHOP_A)
    created = await provider.create_payment(payment(route))
    with pytest.raises(ProviderDeclined):
        await provider.refund(refund(route, created.external_id, 100))


# --- Idempotency ----------------------------------------------------------------------------------


async def test_a_repeated_create_with_the_same_key_is_the_same_payment(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    request = payment(make_route(SHOP_A))
    first = await provider.create_payment(request)
    second = await provider.create_payment(request)
    assert first.external_id == second.external_id
    assert len(simulator.state.payments()) == 1


async def test_a_key_longer_than_yookassa_takes_is_sent_as_its_digest(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    long_key = "order-1001-" + "x" * 80
    request = payment(make_route(SHOP_A), key=long_key)
    first = await provider.create_payment(request)
    second = await provider.create_payment(request)

    keys = {r.headers["idempotence-key"] for r in simulator.state.requests}
    assert keys == {hashlib.sha256(long_key.encode()).hexdigest()}
    assert first.external_id == second.external_id


async def test_every_post_carries_an_idempotence_key(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    route = make_route(SHOP_A)
    created = await provider.create_payment(payment(route, two_step=True))
    simulator.state.pay(created.external_id)
    await provider.capture(action(route, created.external_id, "capture"))
    await provider.refund(refund(route, created.external_id, 100))
    await provider.fetch_payment(route, created.external_id)

    posts = [r for r in simulator.state.requests if r.method == "POST"]
    assert len(posts) == 3
    assert all(0 < len(r.headers.get("idempotence-key", "")) <= 64 for r in posts)
    assert len({r.headers["idempotence-key"] for r in posts}) == 3


# --- Per-seller credentials -----------------------------------------------------------------------


async def test_concurrent_payments_of_two_sellers_each_go_to_their_own_shop(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    routes = {SHOP_A[0]: make_route(SHOP_A, shop_id=121038), SHOP_B[0]: make_route(SHOP_B, shop_id=576631)}
    requests = [payment(routes[shop]) for _ in range(40) for shop in routes]
    created: dict[str, str] = {}

    async def create(request: PaymentRequest) -> None:
        created[request.payment_id] = (await provider.create_payment(request)).external_id

    simulator.state.set_knobs(latency_ms=20)  # keeps many calls in flight at once
    async with anyio.create_task_group() as group:
        for request in requests:
            group.start_soon(create, request)

    assert len(created) == 80
    for request in requests:
        simulated = simulator.state.payment(created[request.payment_id])
        assert simulated is not None
        # Opened on the seller's own shop, authenticated with that shop's own key.
        assert simulated.shop_id == request.route.merchant_account
        assert simulated.metadata["paygate_payment_id"] == request.payment_id
    # Each shop sees only its own payments.
    some_a = next(r for r in requests if r.route.merchant_account == SHOP_A[0])
    with pytest.raises(ProviderDeclined) as not_found:
        await provider.fetch_payment(routes[SHOP_B[0]], created[some_a.payment_id])
    assert not_found.value.code == "not_found"


async def test_a_wrong_secret_key_is_a_definite_no_that_never_shows_the_key(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "test_wrong_" + uuid.uuid4().hex
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderDeclined) as refused:
        await provider.create_payment(payment(make_route(SHOP_A, secret=wrong)))

    assert refused.value.code == "invalid_credentials"
    assert simulator.state.payments() == []
    for text in (str(refused.value), repr(refused.value), caplog.text):
        assert wrong not in text and SHOP_A[1] not in text


async def test_a_route_without_a_secret_key_is_refused_before_any_call(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    with pytest.raises(ProviderDeclined) as refused:
        await provider.create_payment(payment(make_route(SHOP_A, secret="")))
    assert refused.value.code == "missing_secret_key"
    assert simulator.state.requests == []


async def test_an_id_that_is_not_yookassas_never_reaches_a_url(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    with pytest.raises(ProviderDeclined):
        await provider.fetch_payment(make_route(SHOP_A), "../refunds")
    assert simulator.state.requests == []


# --- Unknown outcomes -----------------------------------------------------------------------------


async def test_a_timeout_is_an_unknown_outcome_and_the_retry_finds_the_same_payment(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    request = payment(make_route(SHOP_A))
    simulator.state.set_knobs(fault="timeout", fault_count=1)

    with pytest.raises(ProviderUnavailable) as unknown:
        await provider.create_payment(request)

    assert unknown.value.timed_out
    assert len(simulator.state.payments()) == 1  # it happened; only the answer was lost
    again = await provider.create_payment(request)
    assert [p.id for p in simulator.state.payments()] == [again.external_id]


async def test_a_500_is_asked_again_with_the_same_key_and_never_pays_twice(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    request = payment(make_route(SHOP_A))
    simulator.state.set_knobs(fault="http_500", fault_count=1)

    created = await provider.create_payment(request)

    assert [p.id for p in simulator.state.payments()] == [created.external_id]
    assert [r.headers["idempotence-key"] for r in simulator.state.requests] == [request.idempotency_key] * 2


async def test_a_persistent_500_is_an_unknown_outcome(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    simulator.state.set_knobs(fault="http_500")
    with pytest.raises(ProviderUnavailable) as unknown:
        await provider.create_payment(payment(make_route(SHOP_A)))
    assert not unknown.value.timed_out and "HTTP 500" in unknown.value.reason
    assert len(simulator.state.requests) == 3  # every attempt, one key


async def test_a_202_is_asked_again_after_yookassas_advice(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    route = make_route(SHOP_A)
    created = await provider.create_payment(payment(route))
    simulator.state.pay(created.external_id)
    simulator.state.set_knobs(fault="http_202", fault_count=1, retry_after_ms=50)

    refunded = await provider.refund(refund(route, created.external_id, 5000))

    simulated = simulator.state.payment(created.external_id)
    assert simulated is not None and [r.id for r in simulated.refunds] == [refunded.external_id]


async def test_a_202_that_outlasts_the_deadline_is_an_unknown_outcome(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    simulator.state.set_knobs(fault="http_202", retry_after_ms=5000)
    with pytest.raises(ProviderUnavailable) as unknown:
        await provider.create_payment(payment(make_route(SHOP_A)))
    assert "202" in unknown.value.reason
    assert len(simulator.state.requests) == 1  # YooKassa asked for more time than the deadline leaves


async def test_a_status_call_that_hangs_is_unknown_not_a_failure(
    provider: YooKassaProvider, simulator: YooKassaSimulatorServer
) -> None:
    route = make_route(SHOP_A)
    created = await provider.create_payment(payment(route))
    simulator.state.set_knobs(fault="timeout", fault_operations=["status"])
    with pytest.raises(ProviderUnavailable) as unknown:
        await provider.fetch_payment(route, created.external_id)
    assert unknown.value.timed_out


async def test_a_closed_port_is_an_unknown_outcome() -> None:
    async with build_http_client(timeout=TIMEOUT) as client:
        provider = YooKassaProvider(client=client, base_url="http://127.0.0.1:9/v3", timeout=TIMEOUT)
        with pytest.raises(ProviderUnavailable) as unknown:
            await provider.create_payment(payment(make_route(SHOP_A)))
    assert "ConnectError" in unknown.value.reason


async def test_calls_never_block_the_event_loop(provider: YooKassaProvider, simulator: YooKassaSimulatorServer) -> None:
    simulator.state.set_knobs(latency_ms=300)
    ticks = 0
    done = anyio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as group:
        group.start_soon(tick)
        await provider.create_payment(payment(make_route(SHOP_A)))
        done.set()
    assert ticks >= 5  # the loop kept running while the answer was awaited


# --- The simulator's own rules --------------------------------------------------------------------


async def test_the_simulator_refuses_a_post_without_an_idempotence_key(simulator: YooKassaSimulatorServer) -> None:
    body = {"amount": {"value": "1.00", "currency": "RUB"}, "confirmation": {"type": "redirect", "return_url": RETURN_URL}}
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{simulator.api_url}/payments", json=body, headers={"Authorization": basic(SHOP_A)})
    assert answer.status_code == 400
    assert answer.json()["type"] == "error" and answer.json()["parameter"] == "Idempotence-Key"


async def test_the_simulator_refuses_a_key_reused_for_another_request(simulator: YooKassaSimulatorServer) -> None:
    headers = {"Authorization": basic(SHOP_A), "Idempotence-Key": "k-1"}
    body = {"amount": {"value": "1.00", "currency": "RUB"}, "confirmation": {"type": "redirect", "return_url": RETURN_URL}}
    async with httpx.AsyncClient() as client:
        first = await client.post(f"{simulator.api_url}/payments", json=body, headers=headers)
        body["amount"]["value"] = "2.00"
        second = await client.post(f"{simulator.api_url}/payments", json=body, headers=headers)
    assert first.status_code == 200 and second.status_code == 400


async def test_the_simulator_takes_amounts_as_strings_only(simulator: YooKassaSimulatorServer) -> None:
    headers = {"Authorization": basic(SHOP_A), "Idempotence-Key": "k-2"}
    body = {"amount": {"value": 599.0, "currency": "RUB"}, "confirmation": {"type": "redirect", "return_url": RETURN_URL}}
    async with httpx.AsyncClient() as client:
        answer = await client.post(f"{simulator.api_url}/payments", json=body, headers=headers)
    assert answer.status_code == 400 and answer.json()["parameter"] == "amount.value"
