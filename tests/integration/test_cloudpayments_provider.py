"""The CloudPayments adapter over real HTTP on 127.0.0.1, against the CloudPayments simulator."""

from __future__ import annotations

import json
import logging
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import anyio
import attrs
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.money import Money
from domain.payment import PaymentMethod, PaymentStatus
from domain.seller_route import Credentials, SellerRoute

from application.errors import ProviderDeclined, ProviderUnavailable
from application.ports import PaymentAction, PaymentRequest, RefundRequest

from adapters.providers.cloudpayments import notifications, wire
from adapters.providers.cloudpayments.provider import API_SECRET, CloudPaymentsProvider
from adapters.providers.http_client import build_http_client

from simulators.cloudpayments.state import CloudPaymentsSimulatorState, OrderClosed
from tests.support.cloudpayments import CloudPaymentsSimulatorServer, run_cloudpayments_simulator
from tests.support.servers import serve

TIMEOUT = 1.0


def rub(amount: str) -> Money:
    return Money.from_major(amount, "RUB")


def link(
    route: SellerRoute, amount: Money, *, manual_capture: bool = False, customer_id: str | None = None
) -> PaymentRequest:
    payment_id = f"pay_{uuid.uuid4().hex}"
    return PaymentRequest(
        payment_id=payment_id,
        idempotency_key=payment_id,
        route=route,
        method=PaymentMethod.LINK,
        amount=amount,
        description="Roses, 15 stems",
        customer_id=customer_id,
        manual_capture=manual_capture,
    )


def refund_of(route: SellerRoute, external_id: str, amount: Money) -> RefundRequest:
    refund_id = f"re_{uuid.uuid4().hex}"
    return RefundRequest(
        refund_id=refund_id,
        idempotency_key=refund_id,
        route=route,
        external_id=external_id,
        merchant_account=route.merchant_account,
        amount=amount,
    )


def action_on(route: SellerRoute, external_id: str, amount: Money, *, payment_link: str | None = None) -> PaymentAction:
    return PaymentAction(
        payment_id=external_id,
        idempotency_key=f"act_{uuid.uuid4().hex}",
        route=route,
        external_id=external_id,
        amount=amount,
        payment_link=payment_link,
    )


@pytest.fixture
def simulator() -> Iterator[CloudPaymentsSimulatorServer]:
    with run_cloudpayments_simulator() as simulator:
        yield simulator


@pytest.fixture
def route(simulator: CloudPaymentsSimulatorServer) -> SellerRoute:
    return simulator.route()


@pytest.fixture
async def http_client(anyio_backend: str) -> AsyncIterator[httpx.AsyncClient]:
    async with build_http_client(timeout=TIMEOUT) as client:
        yield client


@pytest.fixture
def provider(http_client: httpx.AsyncClient, simulator: CloudPaymentsSimulatorServer) -> CloudPaymentsProvider:
    return CloudPaymentsProvider(client=http_client, base_url=simulator.base_url, timeout=TIMEOUT)


def calls(simulator: CloudPaymentsSimulatorServer, operation: str) -> list[dict[str, Any]]:
    return [
        {"headers": dict(r.headers), "body": r.body, "json": json.loads(r.body, parse_float=Decimal)}
        for r in simulator.state.requests
        if r.operation == operation
    ]


async def paid(
    provider: CloudPaymentsProvider,
    simulator: CloudPaymentsSimulatorServer,
    route: SellerRoute,
    amount: Money,
    *,
    manual_capture: bool = False,
) -> str:
    created = await provider.create_payment(link(route, amount, manual_capture=manual_capture))
    simulator.state.pay(simulator.state.order_for_invoice(created.external_id).order_id)
    return created.external_id


# --- Payment links --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_payment_link_is_an_order_whose_invoice_is_our_payment_id(
    provider: CloudPaymentsProvider, simulator: CloudPaymentsSimulatorServer, route: SellerRoute
) -> None:
    request = link(route, rub("1500.50"), customer_id="customer-42")

    created = await provider.create_payment(request)

    assert created.external_id == request.payment_id
    assert (created.outcome, created.provider_status) == (PaymentStatus.PENDING, wire.ORDER_CREATED)
    order = simulator.state.order_for_invoice(request.payment_id)
    assert created.payment_link == order.url
    assert order.url.startswith(f"{simulator.base_url}/pay/")
    assert (order.amount, order.currency, order.account_id) == (Decimal("1500.50"), "RUB", "customer-42")
    [call] = calls(simulator, "create")
    assert call["headers"]["x-request-id"] == request.payment_id
    assert call["headers"]["content-type"] == "application/json"
    assert call["json"] == {  # nothing the customer may not see, and no RequireConfirmation for one step
        "Amount": Decimal("1500.50"),
        "Currency": "RUB",
        "Description": "Roses, 15 stems",
        "InvoiceId": request.payment_id,
        "AccountId": "customer-42",
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("money", "written"),
    [
        (Money(1, "RUB"), b'"Amount":0.01'),
        (Money(150_050, "RUB"), b'"Amount":1500.50'),
        (Money(10_000, "RUB"), b'"Amount":100'),
        (Money(1_234_567_890_123, "KZT"), b'"Amount":12345678901.23'),
        (Money(999_999_999_999, "USD"), b'"Amount":9999999999.99'),
    ],
)
async def test_amounts_are_written_exactly_as_json_numbers(
    provider: CloudPaymentsProvider,
    simulator: CloudPaymentsSimulatorServer,
    route: SellerRoute,
    money: Money,
    written: bytes,
) -> None:
    await provider.create_payment(link(route, money))

    [call] = calls(simulator, "create")
    assert written in call["body"]
    assert Money.from_major(call["json"]["Amount"], money.currency) == money


@pytest.mark.anyio
async def test_a_retried_create_with_the_same_key_opens_no_second_order(
    provider: CloudPaymentsProvider, simulator: CloudPaymentsSimulatorServer, route: SellerRoute
) -> None:
    request = link(route, rub("700"))

    first = await provider.create_payment(request)
    again = await provider.create_payment(request)

    assert again == first
    assert len(simulator.state.orders(invoice_id=request.payment_id)) == 1


@pytest.mark.anyio
async def test_what_cloudpayments_cannot_take_is_refused_before_any_call(
    provider: CloudPaymentsProvider, simulator: CloudPaymentsSimulatorServer, route: SellerRoute
) -> None:
    with pytest.raises(ProviderDeclined) as currency:
        await provider.create_payment(link(route, Money(100, "JPY")))
    remote = attrs.evolve(link(route, rub("10")), method=PaymentMethod.REMOTE)
    with pytest.raises(ProviderDeclined) as method:
        await provider.create_payment(remote)
    with pytest.raises(ProviderDeclined) as secret:
        await provider.create_payment(link(simulator.route(api_secret=""), rub("10")))

    assert (currency.value.code, method.value.code, secret.value.code) == (
        "invalid_amount",
        "unsupported_method",
        "missing_api_secret",
    )
    assert simulator.state.requests == []


@pytest.mark.anyio
async def test_a_wrong_api_secret_is_a_definite_no_that_never_shows_the_secret(
    provider: CloudPaymentsProvider, simulator: CloudPaymentsSimulatorServer
) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"

    with pytest.raises(ProviderDeclined) as refused:
        await provider.create_payment(link(simulator.route(api_secret=wrong), rub("10")))

    assert refused.value.code == "unauthorized"
    assert wrong not in str(refused.value) and simulator.api_secret not in str(refused.value)
    assert simulator.state.orders() == []


@pytest.mark.anyio
async def test_a_refusal_of_the_api_is_a_definite_no(
    provider: CloudPaymentsProvider, simulator: CloudPaymentsSimulatorServer, route: SellerRoute
) -> None:
    with pytest.raises(ProviderDeclined) as refused:
        await provider.create_payment(attrs.evolve(link(route, rub("10")), description=" "))

    assert refused.value.code == "declined"
    assert "Description" in refused.value.message


# --- Status ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_status_follows_the_latest_transaction_of_the_invoice(
    provider: CloudPaymentsProvider, simulator: CloudPaymentsSimulatorServer, route: SellerRoute
) -> None:
    created = await provider.create_payment(link(route, rub("990")))
    order_id = simulator.state.order_for_invoice(created.external_id).order_id

    unpaid = await provider.fetch_payment(route, created.external_id)
    simulator.state.decline(order_id)
    declined = await provider.fetch_payment(route, created.external_id)
    simulator.state.pay(order_id)  # the customer tried another card on the same order
    completed = await provider.fetch_payment(route, created.external_id)

    assert (unpaid.outcome, unpaid.provider_status) == (PaymentStatus.PENDING, wire.ORDER_CREATED)
    # A declined attempt is not the payment's end: the customer may retry on the same order.
    assert (declined.outcome, declined.provider_status) == (PaymentStatus.PENDING, wire.DECLINED)
    assert declined.declined_attempt is not None
    assert (declined.declined_attempt.code, declined.declined_attempt.reason) == ("reason_5051", "InsufficientFunds")
    assert (completed.outcome, completed.provider_status) == (PaymentStatus.SUCCEEDED, wire.COMPLETED)
    assert (completed.declined_attempt, completed.amount) == (None, rub("990"))
    finds = calls(simulator, "find")
    assert [c["json"] for c in finds] == [{"InvoiceId": created.external_id}] * 3
    # A status question is a read: a repeated X-Request-ID would be answered with a stale status.
    assert len({c["headers"]["x-request-id"] for c in finds}) == 3


@pytest.mark.anyio
async def test_a_site_sees_only_its_own_invoices(
    provider: CloudPaymentsProvider, simulator: CloudPaymentsSimulatorServer, route: SellerRoute
) -> None:
    simulator.state.add_site("pk_other_seller", "other-seller-secret")
    other_route = attrs.evolve(
        route, merchant_account="pk_other_seller", credentials=Credentials({API_SECRET: "other-seller-secret"})
    )
    created = await provider.create_payment(link(other_route, rub("10")))
    simulator.state.pay(simulator.state.order_for_invoice(created.external_id).order_id)

    theirs = await provider.fetch_payment(other_route, created.external_id)
    ours = await provider.fetch_payment(route, created.external_id)

    assert theirs.outcome is PaymentStatus.SUCCEEDED
    assert (ours.outcome, ours.provider_status) == (PaymentStatus.PENDING, wire.ORDER_CREATED)


# --- Two steps ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_two_step_payment_is_held_then_captured(
    provider: CloudPaymentsProvider, simulator: CloudPaymentsSimulatorServer, route: SellerRoute
) -> None:
    external_id = await paid(provider, simulator, route, rub("2500"), manual_capture=True)
    held = await provider.fetch_payment(route, external_id)
    action = action_on(route, external_id, rub("2500"))

    captured = await provider.capture(action)

    assert calls(simulator, "create")[0]["json"]["RequireConfirmation"] is True
    assert (held.outcome, held.provider_status) == (PaymentStatus.AUTHORIZED, wire.AUTHORIZED)
    assert captured.outcome is PaymentStatus.SUCCEEDED
    assert (await provider.fetch_payment(route, external_id)).outcome is PaymentStatus.SUCCEEDED
    [confirm] = calls(simulator, "confirm")
    transaction = simulator.state.latest_for_invoice(simulator.public_id, external_id)
    assert transaction is not None
    assert confirm["json"] == {"TransactionId": transaction.transaction_id, "Amount": Decimal("2500")}
    assert confirm["headers"]["x-request-id"] == action.idempotency_key


@pytest.mark.anyio
async def test_a_held_payment_is_voided_as_its_cancel(
    provider: CloudPaymentsProvider, simulator: CloudPaymentsSimulatorServer, route: SellerRoute
) -> None:
    external_id = await paid(provider, simulator, route, rub("2500"), manual_capture=True)

    cancelled = await provider.cancel(action_on(route, external_id, rub("2500")))

    assert (cancelled.outcome, cancelled.provider_status) == (PaymentStatus.CANCELLED, wire.CANCELLED)
    assert (await provider.fetch_payment(route, external_id)).outcome is PaymentStatus.CANCELLED


@pytest.mark.anyio
async def test_only_a_held_payment_can_be_captured_or_voided(
    provider: CloudPaymentsProvider, simulator: CloudPaymentsSimulatorServer, route: SellerRoute
) -> None:
    unpaid = await provider.create_payment(link(route, rub("100"), manual_capture=True))
    one_step = await paid(provider, simulator, route, rub("100"))

    with pytest.raises(ProviderDeclined) as capture_unpaid:
        await provider.capture(action_on(route, unpaid.external_id, rub("100")))
    with pytest.raises(ProviderDeclined) as capture_completed:
        await provider.capture(action_on(route, one_step, rub("100")))
    with pytest.raises(ProviderDeclined) as void_completed:
        await provider.cancel(action_on(route, one_step, rub("100")))

    assert capture_unpaid.value.code == "not_authorized"
    assert capture_completed.value.code == "not_authorized"
    assert void_completed.value.code == "not_authorized"
    assert calls(simulator, "void") == [] and calls(simulator, "confirm") == []


@pytest.mark.anyio
async def test_an_unpaid_order_is_cancelled_there_and_takes_no_payment_after(
    provider: CloudPaymentsProvider, simulator: CloudPaymentsSimulatorServer, route: SellerRoute
) -> None:
    created = await provider.create_payment(link(route, rub("100")))
    order_id = simulator.state.order_for_invoice(created.external_id).order_id
    simulator.state.decline(order_id)  # a declined attempt leaves the order payable

    cancelled = await provider.cancel(action_on(route, created.external_id, rub("100"), payment_link=created.payment_link))

    assert (cancelled.outcome, cancelled.provider_status) == (PaymentStatus.CANCELLED, wire.CANCELLED)
    [cancel] = calls(simulator, "cancel_order")
    assert cancel["json"] == {"Id": order_id}
    with pytest.raises(OrderClosed):
        simulator.state.begin_attempt(order_id)  # the link takes no more payments


@pytest.mark.anyio
async def test_a_paid_order_is_never_cancelled(
    provider: CloudPaymentsProvider,
    simulator: CloudPaymentsSimulatorServer,
    route: SellerRoute,
    http_client: httpx.AsyncClient,
) -> None:
    created = await provider.create_payment(link(route, rub("100")))
    order_id = simulator.state.order_for_invoice(created.external_id).order_id
    simulator.state.pay(order_id)

    with pytest.raises(ProviderDeclined) as refused:
        await provider.cancel(action_on(route, created.external_id, rub("100"), payment_link=created.payment_link))
    # Paid between a look and a cancel: CloudPayments refuses to cancel a paid order.
    late_cancel = await http_client.post(
        f"{simulator.base_url}/orders/cancel", json={"Id": order_id}, auth=(route.merchant_account, simulator.api_secret)
    )

    assert refused.value.code == "not_authorized"  # a completed payment is refunded, not cancelled
    assert [c["json"] for c in calls(simulator, "cancel_order")] == [{"Id": order_id}]  # the late one alone
    assert late_cancel.json()["Success"] is False
    assert (await provider.fetch_payment(route, created.external_id)).outcome is PaymentStatus.SUCCEEDED


@pytest.mark.anyio
async def test_a_successful_transaction_carries_what_the_cloudpayments_client_checks_for(
    provider: CloudPaymentsProvider,
    simulator: CloudPaymentsSimulatorServer,
    route: SellerRoute,
    http_client: httpx.AsyncClient,
) -> None:
    external_id = await paid(provider, simulator, route, rub("100"))

    found = await http_client.post(
        f"{simulator.base_url}/payments/find",
        json={"InvoiceId": external_id},
        auth=(route.merchant_account, simulator.api_secret),
    )
    answer = found.json()

    model = answer["Model"]
    assert answer["Success"] is True
    # The community npm client tells a success by TransactionId and AuthCode in the Model.
    assert {"TransactionId", "AuthCode", "AuthDate", "CardExpDate", "CurrencyCode", "StatusCode"} <= set(model)
    assert (model["CurrencyCode"], model["Status"]) == (643, "Completed")


# --- Refunds --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_partial_refunds_up_to_the_paid_amount_and_not_beyond(
    provider: CloudPaymentsProvider, simulator: CloudPaymentsSimulatorServer, route: SellerRoute
) -> None:
    external_id = await paid(provider, simulator, route, rub("1000"))
    first = refund_of(route, external_id, rub("300.50"))

    one = await provider.refund(first)
    two = await provider.refund(refund_of(route, external_id, rub("600")))
    with pytest.raises(ProviderDeclined) as beyond:
        await provider.refund(refund_of(route, external_id, rub("99.51")))

    assert one.external_id and two.external_id and one.external_id != two.external_id
    assert "exceeds" in beyond.value.message
    transaction = simulator.state.latest_for_invoice(simulator.public_id, external_id)
    assert transaction is not None and transaction.refunded == Decimal("900.50")
    refunds = calls(simulator, "refund")
    assert refunds[0]["json"] == {"TransactionId": transaction.transaction_id, "Amount": Decimal("300.50")}
    assert b'"Amount":300.50' in refunds[0]["body"]
    assert refunds[0]["headers"]["x-request-id"] == first.idempotency_key


@pytest.mark.anyio
async def test_a_retried_refund_with_the_same_key_refunds_once(
    provider: CloudPaymentsProvider, simulator: CloudPaymentsSimulatorServer, route: SellerRoute
) -> None:
    external_id = await paid(provider, simulator, route, rub("1000"))
    request = refund_of(route, external_id, rub("400"))

    first = await provider.refund(request)
    again = await provider.refund(request)

    assert again == first
    transaction = simulator.state.latest_for_invoice(simulator.public_id, external_id)
    assert transaction is not None and transaction.refunded == Decimal("400")


@pytest.mark.anyio
async def test_an_unpaid_payment_is_not_refunded_and_nothing_is_sent(
    provider: CloudPaymentsProvider, simulator: CloudPaymentsSimulatorServer, route: SellerRoute
) -> None:
    created = await provider.create_payment(link(route, rub("100")))

    with pytest.raises(ProviderDeclined) as refused:
        await provider.refund(refund_of(route, created.external_id, rub("10")))

    assert refused.value.code == "not_completed"
    assert calls(simulator, "refund") == []


@pytest.mark.anyio
async def test_a_refund_whose_transaction_cannot_be_looked_up_sends_nothing_and_says_so(
    provider: CloudPaymentsProvider, simulator: CloudPaymentsSimulatorServer, route: SellerRoute
) -> None:
    external_id = await paid(provider, simulator, route, rub("100"))
    simulator.state.set_knobs(fault="http_502", fault_count=1, fault_operations=["find"])

    with pytest.raises(ProviderDeclined) as refused:
        await provider.refund(refund_of(route, external_id, rub("10")))

    # A definite no: the refund request never left, so its reservation can safely be released.
    assert refused.value.code == "transaction_lookup_failed"
    assert calls(simulator, "refund") == []


# --- Unknown outcomes -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_create_whose_answer_is_lost_is_unknown_and_its_retry_finds_the_same_order(
    provider: CloudPaymentsProvider, simulator: CloudPaymentsSimulatorServer, route: SellerRoute
) -> None:
    request = link(route, rub("1200"))
    simulator.state.set_knobs(fault="timeout", fault_count=1, fault_operations=["create"])

    with pytest.raises(ProviderUnavailable) as lost:
        await provider.create_payment(request)
    retried = await provider.create_payment(request)

    assert lost.value.timed_out
    [order] = simulator.state.orders(invoice_id=request.payment_id)  # it happened, once
    assert retried.payment_link == order.url


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["http_500", "http_502", "garbage"])
async def test_server_errors_and_garbage_are_unknown_outcomes(
    provider: CloudPaymentsProvider, simulator: CloudPaymentsSimulatorServer, route: SellerRoute, fault: str
) -> None:
    external_id = await paid(provider, simulator, route, rub("100"))
    simulator.state.set_knobs(fault=fault)

    with pytest.raises(ProviderUnavailable) as create:
        await provider.create_payment(link(route, rub("100")))
    with pytest.raises(ProviderUnavailable) as status:
        await provider.fetch_payment(route, external_id)
    simulator.state.set_knobs(fault_operations=["refund"])
    with pytest.raises(ProviderUnavailable) as refund:
        await provider.refund(refund_of(route, external_id, rub("10")))

    assert not create.value.timed_out and not status.value.timed_out and not refund.value.timed_out


@pytest.mark.anyio
async def test_an_unreachable_api_is_an_unknown_outcome(http_client: httpx.AsyncClient, route: SellerRoute) -> None:
    with serve(Starlette()) as gone:
        pass  # the port is closed again
    provider = CloudPaymentsProvider(client=http_client, base_url=gone, timeout=TIMEOUT)

    with pytest.raises(ProviderUnavailable) as unreachable:
        await provider.fetch_payment(route, "pay_x")

    assert "ConnectError" in unreachable.value.reason


# --- Secrets --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_api_secret_reaches_no_log_line_and_no_error(
    provider: CloudPaymentsProvider,
    simulator: CloudPaymentsSimulatorServer,
    route: SellerRoute,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    external_id = await paid(provider, simulator, route, rub("100"))
    await provider.refund(refund_of(route, external_id, rub("1")))
    for fault in ("timeout", "http_500", "garbage"):
        simulator.state.set_knobs(fault=fault, fault_count=1)
        try:
            await provider.fetch_payment(route, external_id)
        except ProviderUnavailable as error:
            errors.append(error)
    try:
        await provider.create_payment(link(simulator.route(api_secret=simulator.api_secret + "x"), rub("1")))
    except ProviderDeclined as error:
        errors.append(error)

    assert len(errors) == 4
    shown = caplog.text + "".join("".join(traceback.format_exception(e)) for e in errors) + repr(provider) + repr(route)
    assert simulator.api_secret not in shown
    assert simulator.state.requests and all(
        simulator.api_secret not in r.headers.get("authorization", "") for r in simulator.state.requests
    )


# --- Notifications from the simulator -------------------------------------------------------------


class Receiver:
    """A merchant endpoint that verifies each notification and answers with a chosen Check code."""

    def __init__(self, secret: str, check_code: int = 0) -> None:
        self.secret = secret
        self.check_code = check_code
        self.received: list[tuple[str, bool, dict[str, str], str]] = []

    async def endpoint(self, request: Request) -> Response:
        raw = await request.body()
        kind = request.path_params["kind"]
        verified = notifications.signature_valid(
            raw, self.secret, [request.headers["content-hmac"], request.headers["x-content-hmac"]]
        )
        fields = dict(notifications.parse(raw, request.headers.get("content-type")).fields)
        self.received.append((kind, verified, fields, request.headers.get("content-type", "")))
        return JSONResponse({"code": self.check_code if kind == notifications.CHECK else 0})


@pytest.mark.anyio
@pytest.mark.parametrize("notification_format", ["form", "json"])
async def test_a_payment_sends_check_then_pay_signed_with_the_api_secret(
    http_client: httpx.AsyncClient, notification_format: str
) -> None:
    state = CloudPaymentsSimulatorState()
    receiver = Receiver(secret="")
    with serve(Starlette(routes=[Route("/hooks/{kind}", receiver.endpoint, methods=["POST"])])) as merchant:
        with run_cloudpayments_simulator(
            state=state, notification_url=f"{merchant}/hooks", notification_format=notification_format
        ) as simulator:
            receiver.secret = simulator.api_secret
            provider = CloudPaymentsProvider(client=http_client, base_url=simulator.base_url, timeout=TIMEOUT)
            created = await provider.create_payment(link(simulator.route(), rub("1500.50")))
            order_id = state.order_for_invoice(created.external_id).order_id

            answer = await http_client.post(f"{simulator.base_url}/orders/{order_id}/pay")

    assert answer.status_code == 200
    assert [(kind, verified) for kind, verified, _, _ in receiver.received] == [("check", True), ("pay", True)]
    fields = receiver.received[1][2]
    assert (fields["InvoiceId"], fields["Amount"], fields["Currency"], fields["Status"]) == (
        created.external_id,
        "1500.50",
        "RUB",
        wire.COMPLETED,
    )
    expected_type = "application/json" if notification_format == "json" else "application/x-www-form-urlencoded"
    assert receiver.received[1][3] == expected_type
    assert [n["code"] for n in answer.json()["notifications"]] == [0, 0]


@pytest.mark.anyio
async def test_a_check_answered_with_a_refusal_declines_the_attempt(http_client: httpx.AsyncClient) -> None:
    state = CloudPaymentsSimulatorState()
    receiver = Receiver(secret="", check_code=notifications.EXPIRED)
    with serve(Starlette(routes=[Route("/hooks/{kind}", receiver.endpoint, methods=["POST"])])) as merchant:
        with run_cloudpayments_simulator(state=state, notification_url=f"{merchant}/hooks") as simulator:
            receiver.secret = simulator.api_secret
            provider = CloudPaymentsProvider(client=http_client, base_url=simulator.base_url, timeout=TIMEOUT)
            created = await provider.create_payment(link(simulator.route(), rub("10")))
            order_id = state.order_for_invoice(created.external_id).order_id

            await http_client.post(f"{simulator.base_url}/orders/{order_id}/pay")
            status = await provider.fetch_payment(simulator.route(), created.external_id)

    assert [kind for kind, *_ in receiver.received] == ["check", "fail"]
    assert (status.outcome, status.provider_status) == (PaymentStatus.PENDING, wire.DECLINED)
    assert status.declined_attempt is not None and status.declined_attempt.code == "reason_5206"


@pytest.mark.anyio
async def test_confirm_void_and_refund_notify_after_they_answer(http_client: httpx.AsyncClient) -> None:
    state = CloudPaymentsSimulatorState()
    receiver = Receiver(secret="")
    with serve(Starlette(routes=[Route("/hooks/{kind}", receiver.endpoint, methods=["POST"])])) as merchant:
        with run_cloudpayments_simulator(state=state, notification_url=f"{merchant}/hooks") as simulator:
            receiver.secret = simulator.api_secret
            route = simulator.route()
            provider = CloudPaymentsProvider(client=http_client, base_url=simulator.base_url, timeout=TIMEOUT)
            held = await paid(provider, simulator, route, rub("50"), manual_capture=True)
            voided = await paid(provider, simulator, route, rub("50"), manual_capture=True)

            await provider.capture(action_on(route, held, rub("50")))
            await provider.cancel(action_on(route, voided, rub("50")))
            await provider.refund(refund_of(route, held, rub("20")))
            delivered = await anyio.to_thread.run_sync(lambda: state.wait_for_deliveries(3))

    assert delivered
    assert sorted((kind, verified, fields["InvoiceId"]) for kind, verified, fields, _ in receiver.received) == sorted(
        [("confirm", True, held), ("cancel", True, voided), ("refund", True, held)]
    )
