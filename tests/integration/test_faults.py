"""Faults with nothing lost, on PostgreSQL over real HTTP: provider timeouts and 5xx, a gateway killed
mid-create, and concurrent refunds of one payment."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import httpx
import pytest
from dependency_injector import providers
from sqlalchemy import text

from domain.payment import Payment, PaymentStatus

from application.sync_status import LOST_ANSWER_AFTER

from config.container import Container
from config.settings import Settings

from tests.fakes import FixedClock
from tests.support.gateways import (
    EVERY_OTHER_PROVIDER_ON,
    IssuedKey,
    RunningGateway,
    gateway_settings,
    prepare,
    with_container,
)
from tests.support.servers import KaspiSimulatorServer, free_port, run_kaspi_simulator

pytestmark = pytest.mark.postgres

SHOP = 121038  # Eileen flowers
PHONE = "+7 701 521 15 45"
T = TypeVar("T")


def eventually(check: Callable[[], T | None], *, timeout: float, what: str) -> T:
    """Poll `check` until it returns something truthy, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


def settings_for(postgres_url: str, simulator: KaspiSimulatorServer, **changes: Any) -> Settings:
    """A gateway on the shared PostgreSQL database, talking to a standalone Kaspi simulator."""
    return gateway_settings(
        postgres_url,
        kaspi_proxy_url=simulator.base_url,
        kaspi_access_token=simulator.access_token,
        **{"kaspi_timeout_seconds": 0.5, **changes},
    )


def stored_payment(settings: Settings, payment_id: str) -> Payment:
    async def read(container: Container) -> Payment:
        async with container.uow()() as uow:
            payment: Payment | None = await uow.payments.get(payment_id)
        assert payment is not None, payment_id
        return payment

    return with_container(settings, read)


def payment_ids_with_message(settings: Settings, message: str) -> list[str]:
    async def read(container: Container) -> list[str]:
        async with container.engine().connect() as connection:
            rows = await connection.execute(text("SELECT id FROM payments WHERE description = :m"), {"m": message})
            return [row[0] for row in rows]

    return with_container(settings, read)


# --- Provider timeout or 5xx ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulator() -> Iterator[KaspiSimulatorServer]:
    with run_kaspi_simulator() as simulator:
        yield simulator


@pytest.fixture(scope="module")
def settings(postgres_url: str, simulator: KaspiSimulatorServer) -> Settings:
    settings = settings_for(postgres_url, simulator)
    prepare(settings)
    return settings


@pytest.fixture
def http(gateway: RunningGateway, key: IssuedKey, simulator: KaspiSimulatorServer) -> Iterator[httpx.Client]:
    simulator.state.reset()
    with httpx.Client(base_url=gateway.base_url, headers=key.header, timeout=10) as client:
        yield client


@pytest.mark.parametrize(
    ("fault", "status", "performed_at_kaspi"),
    [
        ("timeout", 504, True),  # the bill went out; its answer never came
        ("garbage", 502, True),  # the bill went out; its answer was unreadable
        ("http_500", 502, False),  # the proxy failed before Kaspi
        ("http_502", 502, False),
    ],
)
def test_a_provider_timeout_or_5xx_keeps_the_payment_pending_and_a_retry_never_bills_twice(
    http: httpx.Client,
    settings: Settings,
    simulator: KaspiSimulatorServer,
    fault: str,
    status: int,
    performed_at_kaspi: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator.state.set_knobs(fault=fault, fault_count=1, fault_operations=["create"])
    message = f"order {secrets.token_hex(4)}"
    body = {"shop_id": SHOP, "amount": 5000, "phone": PHONE, "message": message}
    headers = {"Idempotency-Key": f"order-{secrets.token_hex(8)}"}

    first = http.post("/payments/kaspi/create", json=body, headers=headers)
    retries = [http.post("/payments/kaspi/create", json=body, headers=headers) for _ in range(2)]

    assert first.status_code == status, first.text
    error = first.json()["error"]
    assert error["code"] == "provider_outcome_unknown"
    payment = stored_payment(settings, error["reference"])
    assert (payment.status, payment.external_id, payment.error_code) == (PaymentStatus.PENDING, None, "provider_outcome_unknown")
    logs = http.get("/admin/logs", params={"shop_id": SHOP, "limit": 20}).json()
    attempt = [e for e in logs if e["payment_id"] == payment.id and e["operation_type"] == "create"]
    assert [e["status"] for e in attempt] == ["pending"]  # the attempt is recorded
    # Client and audit log learn the provider and the operation, never where the proxy is; the
    # server log keeps that detail, its tokens masked.
    proxy = simulator.base_url.split("//")[1].split("/")[0]
    for told in (error["message"], attempt[0]["error_message"], payment.error_message or ""):
        assert "kaspi create" in told and proxy not in told and "paymentkaspi" not in told, told
    detail = [r.getMessage() for r in caplog.records if r.name == "paygate.providers.kaspi" and r.levelname == "WARNING"]
    assert any(proxy in line and "access_token=***" in line for line in detail), detail
    for retry in retries:
        assert retry.status_code in (502, 504), retry.text
        assert retry.json()["error"] == error | {"message": retry.json()["error"]["message"]}
    # The proof: Kaspi saw one create, whatever the retries; the gateway holds one payment.
    assert simulator.state.request_count("create") == 1
    assert len(simulator.state.payments()) == (1 if performed_at_kaspi else 0)
    assert payment_ids_with_message(settings, message) == [payment.id]


# --- Concurrent refunds --------------------------------------------------------------------------


def test_concurrent_refunds_of_one_payment_never_exceed_what_was_paid(
    http: httpx.Client, gateway: RunningGateway, key: IssuedKey, settings: Settings, simulator: KaspiSimulatorServer
) -> None:
    created = http.post("/payments/kaspi/create", json={"shop_id": SHOP, "amount": 10_000, "phone": PHONE})
    external_id = created.json()["external_id"]
    simulator.state.approve(external_id)
    assert http.get(f"/payments/kaspi/status/{external_id}").json()["status"] == "Processed"
    # The refunds overlap at Kaspi; each asks for 1 500 tenge of the 10 000 paid.
    simulator.state.set_knobs(latency_ms=30)
    amounts = [1500] * 24

    async def refund_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=gateway.base_url, headers=key.header, timeout=30) as client:
            start = asyncio.Event()

            async def one(amount: int) -> httpx.Response:
                await start.wait()
                body = {"shop_id": SHOP, "external_id": external_id, "amount": amount}
                return await client.post("/payments/kaspi/refund", json=body)

            tasks = [asyncio.ensure_future(one(amount)) for amount in amounts]
            start.set()
            return list(await asyncio.gather(*tasks))

    answers = asyncio.run(refund_all())

    succeeded = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    assert {(a.status_code, a.json()["error"]["code"]) for a in refused} <= {(409, "refund_exceeds_remaining")}
    refunded = sum(Decimal(str(a.json()["refunded_amount"])) for a in succeeded)
    assert refunded == 1500 * len(succeeded) <= 10_000
    assert len(succeeded) == 6  # 6 x 1 500 fit in 10 000; the 7th would not
    # Kaspi was asked for no more than was paid, and gave back exactly what the gateway recorded.
    asked = [Decimal(r.params["amount"]) for r in simulator.state.requests if r.operation == "refund"]
    assert sum(asked) <= 10_000
    at_kaspi = simulator.state.payment(external_id)
    assert at_kaspi is not None and at_kaspi.refunded == refunded

    async def books(container: Container) -> tuple[Payment, list[Any]]:
        async with container.uow()() as uow:
            payment = await uow.payments.get_by_external_id("kaspi", external_id)
            assert payment is not None
            return payment, list(await uow.refunds.list_for_payment(payment.id))

    payment, refunds = with_container(settings, books)
    assert payment.refunded is not None and payment.refund_reserved is not None
    assert payment.refunded.minor == sum(r.amount.minor for r in refunds if r.status.value == "succeeded") == refunded * 100
    assert payment.refund_reserved.minor == 0
    assert payment.status is PaymentStatus.PARTIALLY_REFUNDED


# --- A gateway killed between Kaspi's acceptance and the database update -------------------------


@attrs.define
class ServeProcess:
    """`paygate serve` in a process of its own, killed for real."""

    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "serve", "--port", str(self.port)],
            env=self.env,
            cwd=os.getcwd(),  # the development secrets key file the test wrote routes under
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def ready() -> bool:
            assert self.process is not None and self.process.poll() is None, "paygate serve exited"
            try:
                return httpx.get(f"{self.base_url}/ready", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        eventually(ready, timeout=30, what="paygate serve ready")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def serve_process(postgres_url: str, simulator: KaspiSimulatorServer) -> Iterator[ServeProcess]:
    env = {
        **os.environ,
        **EVERY_OTHER_PROVIDER_ON,  # ready only then: the shared database holds routes of every provider
        "DATABASE_URL": postgres_url,
        "PRODUCTION_API_URL": simulator.base_url,
        "KASPI_ACCESS_TOKEN": simulator.access_token,
        "KASPI_TIMEOUT_SECONDS": "30",
        "LOG_LEVEL": "WARNING",
    }
    server = ServeProcess(free_port(), env)
    try:
        yield server
    finally:
        server.stop()


def test_a_gateway_killed_after_kaspi_accepted_leaves_the_payment_pending_and_recoverable(
    serve_process: ServeProcess, settings: Settings, key: IssuedKey, simulator: KaspiSimulatorServer
) -> None:
    state = simulator.state
    state.reset()
    state.set_knobs(hold_answer_ms=30_000)  # Kaspi accepts at once; its answer is held
    message = f"order {secrets.token_hex(4)}"
    body = {"shop_id": SHOP, "amount": 5000, "phone": PHONE, "message": message}
    headers = {**key.header, "Idempotency-Key": f"order-{secrets.token_hex(8)}"}
    serve_process.start()
    outcome: list[BaseException | httpx.Response] = []

    def create() -> None:
        try:
            outcome.append(httpx.post(f"{serve_process.base_url}/payments/kaspi/create", json=body, headers=headers, timeout=60))
        except httpx.TransportError as lost:
            outcome.append(lost)

    client = threading.Thread(target=create)
    client.start()
    assert state.wait_for_payments(1, timeout=20)  # the bill is on the customer's phone
    serve_process.kill()
    client.join(timeout=10)
    state.set_knobs(hold_answer_ms=0)

    assert len(outcome) == 1 and isinstance(outcome[0], httpx.TransportError)  # the client never heard back
    [payment_id] = payment_ids_with_message(settings, message)
    left = stored_payment(settings, payment_id)
    assert (left.status, left.external_id) == (PaymentStatus.PENDING, None)

    serve_process.start()
    retry = httpx.post(f"{serve_process.base_url}/payments/kaspi/create", json=body, headers=headers, timeout=10)
    assert retry.status_code == 409, retry.text  # the key's first request never finished
    assert state.request_count("create") == 1

    # Status sync, once the create cannot be in flight any more, flags the lost answer...
    later = FixedClock(left.created_at + LOST_ANSWER_AFTER + timedelta(seconds=1))

    async def sync(container: Container) -> Payment:
        container.clock.override(providers.Object(later))
        return await container.get_payment().by_id(payment_id, actor="ops")

    flagged = with_container(settings, sync)
    assert (flagged.status, flagged.error_code) == (PaymentStatus.PENDING, "provider_outcome_unknown")
    # ...an operator finds the bill in the Kaspi cabinet (amount, phone, time) and attaches its id...
    [bill] = state.payments()
    state.approve(bill.external_id)

    def attach(*options: str) -> subprocess.CompletedProcess[str]:
        command = ["payments", "attach", payment_id, "--external-id", bill.external_id, *options]
        return subprocess.run(
            [sys.executable, "-m", "entrypoints.cli", *command],
            env=serve_process.env, cwd=os.getcwd(), capture_output=True, text=True, timeout=60,
        )

    # Kaspi's status names no amount: the operator types the cabinet's, and nothing is shown before.
    untyped, mistyped = attach("--yes"), attach("--amount", "1.00", "--yes")
    checked = attach("--amount", "5000.00")  # verified, shown, not attached without --yes
    assert (untyped.returncode, mistyped.returncode, checked.returncode) == (2, 2, 1)
    assert "amount" in untyped.stderr and "amount" in mistyped.stderr
    assert untyped.stdout == mistyped.stdout == "" and "5000" not in untyped.stderr + mistyped.stderr
    assert json.loads(checked.stdout)["payment"]["id"] == payment_id
    assert stored_payment(settings, payment_id).external_id is None
    attached = attach("--amount", "5000.00", "--yes")
    assert attached.returncode == 0, attached.stderr
    recovered = stored_payment(settings, payment_id)
    # ...and from then on it is an ordinary payment: status sync settled it, the API answers for it.
    assert (recovered.status, recovered.external_id) == (PaymentStatus.SUCCEEDED, bill.external_id)
    status = httpx.get(f"{serve_process.base_url}/payments/kaspi/status/{bill.external_id}", headers=key.header, timeout=10)
    assert status.json() == {"success": True, "external_id": bill.external_id, "status": "Processed"}
    assert state.request_count("create") == 1
