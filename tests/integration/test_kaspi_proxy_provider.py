"""The Kaspi proxy adapter over real HTTP on 127.0.0.1, against the proxy simulator."""

from __future__ import annotations

import logging
import re
import socket
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.identifiers import Phone
from domain.money import Money
from domain.payment import PaymentMethod, PaymentStatus
from domain.seller_route import Credentials, SellerRoute

from application.errors import ProviderDeclined, ProviderUnavailable
from application.ports import PaymentRequest, ProviderPayment, RefundRequest

from adapters.providers.aiohttp_transport import PlainHttpClient
from adapters.providers.http_client import build_http_client, build_plain_http_client
from adapters.providers.kaspi_proxy.provider import KaspiProxyProvider

from tests.support.servers import KaspiSimulatorServer, serve

BIN = "891027350515"
OTHER_BIN = "180340021791"
PHONE = "77015211545"
NOW = datetime(2025, 10, 22, 12, 0, tzinfo=UTC)
EXTERNAL_ID = re.compile(r"128\d{8}")


def kzt(amount: str) -> Money:
    return Money.from_major(amount, "KZT")


def make_route(device_token: str, *, bin_: str = BIN) -> SellerRoute:
    return SellerRoute(
        shop_id=8,
        provider="kaspi",
        merchant_account=bin_,
        credentials=Credentials({"device_token": device_token}),
        is_active=True,
        created_at=NOW,
        updated_at=NOW,
    )


def remote(route: SellerRoute, amount: str = "1500.50") -> PaymentRequest:
    payment_id = f"pay_{uuid.uuid4().hex}"
    return PaymentRequest(
        payment_id=payment_id,
        idempotency_key=payment_id,
        route=route,
        method=PaymentMethod.REMOTE,
        amount=kzt(amount),
        description="Roses, 15 stems",
        phone=Phone(PHONE),
    )


def link(route: SellerRoute, amount: str = "2000") -> PaymentRequest:
    payment_id = f"pay_{uuid.uuid4().hex}"
    return PaymentRequest(
        payment_id=payment_id,
        idempotency_key=payment_id,
        route=route,
        method=PaymentMethod.LINK,
        amount=kzt(amount),
        description="Tulips",
    )


def refund_of(route: SellerRoute, external_id: str, amount: str) -> RefundRequest:
    refund_id = f"re_{uuid.uuid4().hex}"
    return RefundRequest(
        refund_id=refund_id,
        idempotency_key=refund_id,
        route=route,
        external_id=external_id,
        merchant_account=route.merchant_account,
        amount=kzt(amount),
    )


@pytest.fixture
def device_token() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def route(device_token: str) -> SellerRoute:
    return make_route(device_token)


@pytest.fixture
async def http_client(anyio_backend: str) -> AsyncIterator[httpx.AsyncClient]:
    async with build_http_client(timeout=5.0) as client:
        yield client


@pytest.fixture
async def kaspi_client(anyio_backend: str) -> AsyncIterator[PlainHttpClient]:
    async with build_plain_http_client() as client:
        yield client


@pytest.fixture
def provider(kaspi_client: PlainHttpClient, kaspi_simulator: KaspiSimulatorServer) -> KaspiProxyProvider:
    return KaspiProxyProvider(
        client=kaspi_client, base_url=kaspi_simulator.base_url, access_token=kaspi_simulator.access_token, timeout=5.0
    )


async def paid(provider: KaspiProxyProvider, simulator: KaspiSimulatorServer, route: SellerRoute, amount: str) -> str:
    created = await provider.create_payment(remote(route, amount))
    simulator.state.approve(created.external_id)
    return created.external_id


# --- Creating payments ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_remote_payment_pushes_a_bill_to_the_customers_phone(
    provider: KaspiProxyProvider, kaspi_simulator: KaspiSimulatorServer, route: SellerRoute
) -> None:
    created = await provider.create_payment(remote(route, "1500.50"))

    assert EXTERNAL_ID.fullmatch(created.external_id)
    assert (created.provider_status, created.outcome) == ("Wait", PaymentStatus.PENDING)
    assert (created.payment_link, created.expires_at) == (None, None)
    bill = kaspi_simulator.state.view(created.external_id)
    assert bill is not None
    assert (bill["kind"], bill["organizationBin"], bill["amount"], bill["phone"], bill["message"]) == (
        "remote", BIN, 1500.5, PHONE, "Roses, 15 stems",
    )
    [call] = kaspi_simulator.state.requests
    assert call.operation == "create"
    assert call.params["deviceToken"] == "***"  # it was sent; the simulator masks what it records


@pytest.mark.anyio
async def test_a_payment_link_comes_back_with_its_expiry(
    provider: KaspiProxyProvider, kaspi_simulator: KaspiSimulatorServer, route: SellerRoute
) -> None:
    before = datetime.now(UTC)

    created = await provider.create_payment(link(route, "2000"))

    assert EXTERNAL_ID.fullmatch(created.external_id)
    assert created.payment_link is not None
    assert re.fullmatch(r"https://pay\.kaspi\.kz/pay/\d{41}", created.payment_link)
    assert created.expires_at is not None and created.expires_at > before
    assert created.outcome is PaymentStatus.PENDING
    bill = kaspi_simulator.state.view(created.external_id)
    assert bill is not None
    assert (bill["kind"], bill["amount"], bill["phone"], bill["paymentLink"]) == (
        "link", 2000, None, created.payment_link,
    )
    assert "phone" not in kaspi_simulator.state.requests[0].params


@pytest.mark.anyio
async def test_an_unknown_device_is_refused_by_kaspi(
    provider: KaspiProxyProvider, kaspi_simulator: KaspiSimulatorServer
) -> None:
    with pytest.raises(ProviderDeclined) as refused:
        await provider.create_payment(remote(make_route("not-a-registered-device")))

    assert refused.value.code == "-1501"
    assert kaspi_simulator.state.payments() == []


@pytest.mark.anyio
async def test_a_route_without_a_device_token_is_billed_without_one(
    provider: KaspiProxyProvider, kaspi_simulator: KaspiSimulatorServer
) -> None:
    """The real sellers have no device token: the proxy then bills through its own device, so the
    call carries no `deviceToken` at all (an empty or null one would name a device that does not exist)."""
    bare = SellerRoute(
        shop_id=8, provider="kaspi", merchant_account=BIN, credentials=Credentials({}),
        is_active=True, created_at=NOW, updated_at=NOW,
    )

    created = await provider.create_payment(remote(bare))

    assert created.provider_status == "Wait"
    assert [(r.operation, "deviceToken" in r.params) for r in kaspi_simulator.state.requests] == [("create", False)]


# --- Status ---------------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("action", "provider_status", "outcome"),
    [
        ("approve", "Processed", PaymentStatus.SUCCEEDED),
        ("decline", "Error", PaymentStatus.FAILED),
        ("expire", "Error", PaymentStatus.FAILED),
    ],
)
async def test_status_follows_what_happened_at_kaspi(
    provider: KaspiProxyProvider,
    kaspi_simulator: KaspiSimulatorServer,
    http_client: httpx.AsyncClient,
    route: SellerRoute,
    action: str,
    provider_status: str,
    outcome: PaymentStatus,
) -> None:
    created = await provider.create_payment(remote(route))
    waiting = await provider.fetch_payment(route, created.external_id)
    # Steered through the HTTP controls, as acceptance tests do.
    control = await http_client.post(f"{kaspi_simulator.control_url}/payments/{created.external_id}/{action}")
    assert control.status_code == 200

    observed = await provider.fetch_payment(route, created.external_id)

    assert waiting == ProviderPayment(created.external_id, "Wait", PaymentStatus.PENDING)
    assert observed == ProviderPayment(created.external_id, provider_status, outcome)


@pytest.mark.anyio
async def test_a_paid_link_reads_as_succeeded(
    provider: KaspiProxyProvider, kaspi_simulator: KaspiSimulatorServer, route: SellerRoute
) -> None:
    created = await provider.create_payment(link(route))
    kaspi_simulator.state.approve(created.external_id)

    observed = await provider.fetch_payment(route, created.external_id)

    assert (observed.provider_status, observed.outcome) == ("Processed", PaymentStatus.SUCCEEDED)


@pytest.mark.anyio
async def test_status_of_a_purchase_kaspi_does_not_know_is_refused(
    provider: KaspiProxyProvider, route: SellerRoute
) -> None:
    with pytest.raises(ProviderDeclined) as refused:
        await provider.fetch_payment(route, "12899999999")

    assert refused.value.code == "-1601"


# --- Refunds --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_full_refund(
    provider: KaspiProxyProvider, kaspi_simulator: KaspiSimulatorServer, route: SellerRoute
) -> None:
    external_id = await paid(provider, kaspi_simulator, route, "100")

    refunded = await provider.refund(refund_of(route, external_id, "100"))

    assert refunded.external_id is not None and EXTERNAL_ID.fullmatch(refunded.external_id)
    bill = kaspi_simulator.state.view(external_id)
    assert bill is not None and bill["refunded"] == 100


@pytest.mark.anyio
async def test_repeated_partial_refunds_up_to_the_paid_amount(
    provider: KaspiProxyProvider, kaspi_simulator: KaspiSimulatorServer, route: SellerRoute
) -> None:
    external_id = await paid(provider, kaspi_simulator, route, "100")

    first = await provider.refund(refund_of(route, external_id, "50"))
    second = await provider.refund(refund_of(route, external_id, "30.50"))
    third = await provider.refund(refund_of(route, external_id, "19.50"))
    with pytest.raises(ProviderDeclined) as refused:
        await provider.refund(refund_of(route, external_id, "0.01"))

    assert len({first.external_id, second.external_id, third.external_id}) == 3
    assert refused.value.code == "-99000005"
    bill = kaspi_simulator.state.view(external_id)
    assert bill is not None
    assert [r["amount"] for r in bill["refunds"]] == [50, 30.5, 19.5]
    assert bill["refunded"] == 100


@pytest.mark.anyio
async def test_a_refund_beyond_what_remains_is_refused_and_changes_nothing(
    provider: KaspiProxyProvider, kaspi_simulator: KaspiSimulatorServer, route: SellerRoute
) -> None:
    external_id = await paid(provider, kaspi_simulator, route, "100")
    await provider.refund(refund_of(route, external_id, "60"))

    with pytest.raises(ProviderDeclined) as refused:
        await provider.refund(refund_of(route, external_id, "40.01"))

    assert refused.value.code == "-99000005"
    bill = kaspi_simulator.state.view(external_id)
    assert bill is not None and bill["refunded"] == 60


@pytest.mark.anyio
async def test_an_unpaid_payment_cannot_be_refunded(
    provider: KaspiProxyProvider, kaspi_simulator: KaspiSimulatorServer, route: SellerRoute
) -> None:
    created = await provider.create_payment(remote(route, "100"))

    with pytest.raises(ProviderDeclined) as refused:
        await provider.refund(refund_of(route, created.external_id, "100"))

    assert refused.value.code == "-99000011"


@pytest.mark.anyio
async def test_a_refund_from_another_bin_is_refused(
    provider: KaspiProxyProvider, kaspi_simulator: KaspiSimulatorServer, route: SellerRoute, device_token: str
) -> None:
    external_id = await paid(provider, kaspi_simulator, route, "100")

    with pytest.raises(ProviderDeclined) as refused:
        await provider.refund(refund_of(make_route(device_token, bin_=OTHER_BIN), external_id, "100"))

    assert refused.value.code == "-99000003"


@pytest.mark.anyio
async def test_an_empty_refund_answer_from_an_older_proxy_is_a_success(
    provider: KaspiProxyProvider, kaspi_simulator: KaspiSimulatorServer, route: SellerRoute
) -> None:
    external_id = await paid(provider, kaspi_simulator, route, "100")
    kaspi_simulator.state.set_knobs(empty_refund_body=True)

    refunded = await provider.refund(refund_of(route, external_id, "100"))

    assert refunded.external_id is None
    bill = kaspi_simulator.state.view(external_id)
    assert bill is not None and bill["refunded"] == 100


@pytest.mark.anyio
async def test_proxies_that_say_success_instead_of_status(
    provider: KaspiProxyProvider, kaspi_simulator: KaspiSimulatorServer, http_client: httpx.AsyncClient,
    route: SellerRoute,
) -> None:
    knobs = await http_client.post(f"{kaspi_simulator.control_url}/knobs", json={"success_key": "success"})
    assert knobs.status_code == 200

    created = await provider.create_payment(remote(route, "100"))
    kaspi_simulator.state.approve(created.external_id)
    observed = await provider.fetch_payment(route, created.external_id)
    refunded = await provider.refund(refund_of(route, created.external_id, "100"))
    with pytest.raises(ProviderDeclined) as refused:
        await provider.refund(refund_of(route, created.external_id, "1"))

    assert observed.outcome is PaymentStatus.SUCCEEDED
    assert refunded.external_id is not None
    assert refused.value.code == "-99000005"
    answer = await http_client.get(
        f"{kaspi_simulator.base_url}/status/",
        params={"externalId": created.external_id, "access_token": kaspi_simulator.access_token},
    )
    assert answer.json()["success"] is True and "status" not in answer.json()


# --- When the answer is lost or unclear -----------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("fault", ["http_500", "http_502"])
async def test_a_server_error_is_an_unknown_outcome(
    provider: KaspiProxyProvider, kaspi_simulator: KaspiSimulatorServer, route: SellerRoute, fault: str
) -> None:
    kaspi_simulator.state.set_knobs(fault=fault)

    with pytest.raises(ProviderUnavailable) as unknown:
        await provider.create_payment(remote(route))

    assert unknown.value.timed_out is False
    assert fault[-3:] in unknown.value.reason
    assert kaspi_simulator.state.request_count("create") == 1


@pytest.mark.anyio
async def test_a_timeout_is_an_unknown_outcome_and_the_create_is_never_retried(
    kaspi_client: PlainHttpClient,
    http_client: httpx.AsyncClient, kaspi_simulator: KaspiSimulatorServer, route: SellerRoute
) -> None:
    impatient = KaspiProxyProvider(
        client=kaspi_client, base_url=kaspi_simulator.base_url, access_token=kaspi_simulator.access_token, timeout=0.3
    )
    # Only the first create hangs: a retry would succeed, so the call could not fail if it retried.
    kaspi_simulator.state.set_knobs(fault="timeout", fault_count=1, fault_operations=["create"])

    with pytest.raises(ProviderUnavailable) as unknown:
        await impatient.create_payment(remote(route))

    assert unknown.value.timed_out is True
    assert kaspi_simulator.state.wait_for_requests("create", 1)
    assert kaspi_simulator.state.request_count("create") == 1
    # The bill did reach the phone: exactly why a blind retry would push a second one.
    assert len(kaspi_simulator.state.payments()) == 1


@pytest.mark.anyio
async def test_a_garbage_answer_is_an_unknown_outcome(
    provider: KaspiProxyProvider, kaspi_simulator: KaspiSimulatorServer, route: SellerRoute
) -> None:
    external_id = await paid(provider, kaspi_simulator, route, "100")
    kaspi_simulator.state.set_knobs(fault="garbage", fault_operations=["refund"])

    with pytest.raises(ProviderUnavailable) as unknown:
        await provider.refund(refund_of(route, external_id, "100"))

    assert unknown.value.timed_out is False
    assert kaspi_simulator.state.request_count("refund") == 1


@pytest.mark.anyio
async def test_a_kaspi_error_body_is_a_refusal(
    provider: KaspiProxyProvider, kaspi_simulator: KaspiSimulatorServer, route: SellerRoute
) -> None:
    kaspi_simulator.state.set_knobs(fault="error_body")

    with pytest.raises(ProviderDeclined) as refused:
        await provider.create_payment(remote(route))

    assert refused.value.code == "-999"
    assert kaspi_simulator.state.payments() == []


@pytest.mark.anyio
async def test_a_wrong_access_token_is_refused(
    kaspi_client: PlainHttpClient,
    http_client: httpx.AsyncClient, kaspi_simulator: KaspiSimulatorServer, route: SellerRoute
) -> None:
    intruder = KaspiProxyProvider(client=kaspi_client, base_url=kaspi_simulator.base_url, access_token="wrong-token")

    with pytest.raises(ProviderDeclined) as refused:
        await intruder.create_payment(remote(route))

    assert refused.value.code == "http_401"
    assert kaspi_simulator.state.payments() == []


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A port bound but not listening: connections to it are refused, and nobody else can take it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.anyio
async def test_an_unreachable_proxy_is_an_unknown_outcome(
    kaspi_client: PlainHttpClient,
    http_client: httpx.AsyncClient, route: SellerRoute, dead_port: int
) -> None:
    gone = KaspiProxyProvider(
        client=kaspi_client, base_url=f"http://127.0.0.1:{dead_port}/api/v2/paymentkaspi", access_token="token"
    )

    with pytest.raises(ProviderUnavailable) as unknown:
        await gone.create_payment(remote(route))

    assert unknown.value.timed_out is False
    assert "ConnectError" in unknown.value.reason


# --- Secrets --------------------------------------------------------------------------------------


def _echoing_proxy() -> Starlette:
    """A careless proxy that quotes the request, tokens included, back in its error messages."""

    async def refuse(request: Request) -> Response:
        device = request.query_params.get("deviceToken", "")
        if request.path_params["operation"] == "create":
            return JSONResponse({"status": False, "data": {"errors": {"-1501": f"Device {device} not found"}}})
        if request.path_params["operation"] == "create-link":
            return JSONResponse({"status": False, "error": f"cannot handle {request.url}"}, 400)
        return Response(f"<pre>{request.url} crashed</pre>", 500)

    return Starlette(routes=[Route("/api/v2/paymentkaspi/{operation}/", refuse)])


async def _failure(call: Awaitable[object]) -> BaseException:
    try:
        await call
    except (ProviderDeclined, ProviderUnavailable) as error:
        return error
    raise AssertionError("the call was expected to fail")


def _texts_of(error: BaseException) -> list[str]:
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    for linked in (error.__cause__, error.__context__):
        if linked is not None:
            texts += [str(linked), repr(linked)]
    return texts


@pytest.mark.anyio
async def test_no_token_reaches_a_log_line_or_an_error_message(
    kaspi_client: PlainHttpClient,
    kaspi_simulator: KaspiSimulatorServer,
    http_client: httpx.AsyncClient,
    route: SellerRoute,
    device_token: str,
    dead_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("aiohttp", "paygate", "uvicorn", "uvicorn.error", "uvicorn.access"):
        caplog.set_level(logging.DEBUG, logger=name)
    state = kaspi_simulator.state
    token = kaspi_simulator.access_token
    provider = KaspiProxyProvider(client=kaspi_client, base_url=kaspi_simulator.base_url, access_token=token)
    impatient = KaspiProxyProvider(
        client=kaspi_client, base_url=kaspi_simulator.base_url, access_token=token, timeout=0.3
    )
    wrong_token = f"wrong-{uuid.uuid4().hex}"
    unregistered_device = f"device-{uuid.uuid4().hex}"
    errors: list[BaseException] = []

    created = await provider.create_payment(remote(route, "100"))
    await provider.create_payment(link(route))
    state.approve(created.external_id)
    await provider.fetch_payment(route, created.external_id)
    await provider.refund(refund_of(route, created.external_id, "10"))
    state.set_knobs(empty_refund_body=True)
    await provider.refund(refund_of(route, created.external_id, "10"))
    errors.append(await _failure(provider.refund(refund_of(route, created.external_id, "1000"))))
    errors.append(await _failure(provider.create_payment(remote(make_route(unregistered_device)))))
    wrong = KaspiProxyProvider(client=kaspi_client, base_url=kaspi_simulator.base_url, access_token=wrong_token)
    errors.append(await _failure(wrong.create_payment(remote(route))))
    for fault in ("http_500", "http_502", "error_body", "garbage"):
        state.set_knobs(fault=fault, fault_count=1)
        errors.append(await _failure(provider.create_payment(remote(route))))
    state.set_knobs(fault="timeout", fault_count=1)
    errors.append(await _failure(impatient.create_payment(remote(route))))
    gone = KaspiProxyProvider(
        client=kaspi_client, base_url=f"http://127.0.0.1:{dead_port}/api/v2/paymentkaspi", access_token=token
    )
    errors.append(await _failure(gone.refund(refund_of(route, created.external_id, "1"))))
    with serve(_echoing_proxy()) as careless_url:
        careless = KaspiProxyProvider(
            client=kaspi_client, base_url=f"{careless_url}/api/v2/paymentkaspi", access_token=token
        )
        errors.append(await _failure(careless.create_payment(remote(route))))
        errors.append(await _failure(careless.create_payment(link(route))))
        errors.append(await _failure(careless.fetch_payment(route, created.external_id)))

    texts = [caplog.text, repr(provider), repr(route)]
    for record in caplog.records:
        texts += [record.getMessage(), repr(vars(record))]
    for error in errors:
        texts += _texts_of(error)
    for secret in (token, device_token, wrong_token, unregistered_device):
        leaks = [text for text in texts if secret in text]
        assert leaks == [], f"a secret leaked into {len(leaks)} texts: " + "\n".join(t[max(0, t.find(secret) - 300):t.find(secret) + 60] for t in leaks[:3])
    # The guards redacted real lines rather than the lines going missing:
    # The exchange lines carry the URL, masked: the check above looked at real URLs.
    assert any(r.name == "paygate.providers.kaspi" and "access_token=***" in r.getMessage() for r in caplog.records)
    assert any(r.name == "paygate.providers.kaspi" and "deviceToken=***" in r.getMessage() for r in caplog.records)
    assert {type(e) for e in errors} == {ProviderDeclined, ProviderUnavailable}
    echoed = errors[-3]
    assert isinstance(echoed, ProviderDeclined) and echoed.message == "Device *** not found"
