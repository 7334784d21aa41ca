"""The README's walkthrough as a newcomer runs it, in real processes: `paygate run` (the API, the
poller and the dispatcher in one process) and `paygate webhooks tail` in a second terminal. A
payment approved in the simulator reaches the tail as a verified webhook without anybody asking
for its status; a forged delivery is refused; stopping the tail unsubscribes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateways import TEST_SECRETS_KEY
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
SHOP = 121038
DEADLINE = 60.0


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {DEADLINE:g} s")
        time.sleep(0.1)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    """What `make run` sets, on a database of this test's own."""
    return os.environ | {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'paygate.db'}",
        "SECRETS_KEY": TEST_SECRETS_KEY,
        "PRODUCTION_API_URL": "simulator",
        "SANDBOX_PROVIDER": "on",
        "STRIPE_API_URL": "simulator",
        "YOOKASSA_API_URL": "simulator",
        "CLOUDPAYMENTS_API_URL": "simulator",
        "WEBHOOK_ALLOW_HTTP": "true",
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
        "LOG_LEVEL": "WARNING",
    }


def paygate(environment: dict[str, str], *args: str, out: Path, err: Path) -> subprocess.Popen[bytes]:
    with out.open("wb") as stdout, err.open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", *args], cwd=ROOT, env=environment, stdout=stdout, stderr=stderr
        )


@pytest.fixture
def gateway(environment: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`paygate demo init` then `paygate run`: its base URL and the demo API key."""
    key_file = tmp_path / "demo-api-key"
    init = subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "demo", "init", "--key-file", str(key_file)],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )
    assert init.returncode == 0, init.stderr
    port = free_port()
    process = paygate(environment, "run", "--port", str(port), out=tmp_path / "run.out", err=tmp_path / "run.err")
    base_url = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: process.poll() is None and answers(f"{base_url}/ready"), "paygate run ready")
        yield base_url, key_file.read_text().strip()
    finally:
        process.send_signal(signal.SIGTERM)
        # uvicorn stops gracefully, then lets the signal end the process as it would have.
        assert process.wait(timeout=30) in (0, -signal.SIGTERM), (tmp_path / "run.err").read_text()


def test_a_payment_approved_in_the_simulator_reaches_the_tail_verified_and_a_forgery_does_not(
    gateway: tuple[str, str], environment: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    base_url, key = gateway
    http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    request.addfinalizer(http.close)
    tail_port = free_port()
    out, err = tmp_path / "tail.out", tmp_path / "tail.err"
    tail = paygate(environment, "webhooks", "tail", "--port", str(tail_port), out=out, err=err)
    try:
        eventually(lambda: "subscribed wh_" in err.read_text(), "the tail subscribed")
        assert len(http.get("/admin/webhooks").json()["webhooks"]) == 1

        created = http.post("/payments/kaspi/create", json={"shop_id": SHOP, "amount": 5000, "phone": "87015211545"})
        assert created.status_code == 200, created.text
        external_id = created.json()["external_id"]
        assert http.post(f"/sandbox/kaspi/payments/{external_id}/approve").status_code == 200
        # Nobody asks for the status: the poller of `paygate run` finds out, its dispatcher tells the tail.
        eventually(lambda: "payment.succeeded" in out.read_text(), "the webhook of the payment")

        forged = httpx.post(
            f"http://127.0.0.1:{tail_port}/paygate-webhooks-tail",
            content=b'{"type":"payment.succeeded","payment_id":"pay_forged"}',
            headers={"Paygate-Signature": f"t={int(time.time())},v1={'0' * 64}"},
        )
    finally:
        tail.send_signal(signal.SIGINT)
        tail_exit = tail.wait(timeout=30)

    printed = out.read_text().splitlines()
    assert [line.split()[0] for line in printed] == ["payment.created", "payment.succeeded"], printed
    assert all("kaspi shop 121038" in line and "500000 KZT" in line for line in printed)
    assert forged.status_code == 400 and "pay_forged" not in out.read_text()
    assert "does not verify" in err.read_text()
    assert tail_exit == 0, err.read_text()
    assert "unsubscribed wh_" in err.read_text()
    assert http.get("/admin/webhooks").json()["webhooks"] == []


@pytest.mark.parametrize(
    ("provider", "currency", "ready_for_the_page"),
    [("stripe", "USD", "client_secret"), ("yookassa", "RUB", "pay_url"), ("cloudpayments", "RUB", "pay_url")],
)
def test_the_demo_seller_takes_payments_at_every_simulated_provider(
    gateway: tuple[str, str], provider: str, currency: str, ready_for_the_page: str
) -> None:
    base_url, key = gateway
    created = httpx.post(
        f"{base_url}/v1/payments", headers={"Authorization": f"Bearer {key}"}, timeout=10,
        json={"shop_id": SHOP, "provider": provider, "amount": 150000, "currency": currency,
              "return_url": "https://shop.example/orders/7"},
    )
    assert created.status_code == 201, created.text
    assert created.json()[ready_for_the_page]
