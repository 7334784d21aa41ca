"""`paygate poll --once` and `paygate dispatch --once`: one round against the Kaspi simulator, a summary on stdout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.money import Money
from domain.payment import Payment, PaymentMethod

from application.payment_requests import CreatePaymentCommand

from entrypoints import cli
from entrypoints.http.slow_clients import LimitedHttpToolsProtocol

from config.container import Container
from config.settings import Settings

from tests.support.gateways import with_container
from tests.support.servers import KaspiSimulatorServer, serve

SHOP = 121038
ROOT = Path(__file__).resolve().parents[2]


def bill(settings: Settings) -> Payment:
    async def create(container: Container) -> Payment:
        command = CreatePaymentCommand(
            shop_id=SHOP, provider="kaspi", method=PaymentMethod.REMOTE, amount=Money(500000, "KZT"),
            phone="77015211545",
        )
        payment: Payment = await container.create_payment().execute(command)
        return payment

    return with_container(settings, create)


def test_poll_once_settles_a_paid_payment_and_says_what_it_did(
    environment: Settings, kaspi_simulator: KaspiSimulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    payment = bill(environment)
    assert payment.external_id is not None
    kaspi_simulator.state.approve(payment.external_id)

    assert cli.main(["poll", "--once"]) == 0

    summary = json.loads(capsys.readouterr().out)
    assert summary["poll"] == {"checked": 1, "changed": 1, "expired": 0, "errors": 0}
    assert summary["dispatch"]["fanned_out"] == 0  # nobody subscribed yet
    assert cli.main(["payments", "show", payment.id]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "succeeded"


def test_neither_the_crm_nor_the_operator_ever_sees_the_link_that_pays(
    environment: Settings, kaspi_simulator: KaspiSimulatorServer, capsys: pytest.CaptureFixture[str]
) -> None:
    received: list[bytes] = []

    async def hook(request: Request) -> Response:
        received.append(await request.body())
        return Response(status_code=204)

    async def bill_by_link(container: Container) -> Payment:
        await container.manage_webhooks().add(url=f"{crm}/hook", event_types=["payment.succeeded"])
        command = CreatePaymentCommand(shop_id=SHOP, provider="kaspi", method=PaymentMethod.LINK, amount=Money(500000, "KZT"))
        payment: Payment = await container.create_payment().execute(command)
        return payment

    with serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as crm:
        payment = with_container(environment, bill_by_link)
        assert payment.external_id is not None and payment.payment_link
        kaspi_simulator.state.approve(payment.external_id)
        assert cli.main(["poll", "--once"]) == 0
    capsys.readouterr()
    assert cli.main(["payments", "show", payment.id]) == 0
    shown = capsys.readouterr().out

    [delivered] = received
    told = json.loads(delivered)["data"]["payment"]
    assert json.loads(shown)["status"] == told["status"] == "succeeded"
    for text in (delivered.decode(), shown):
        assert payment.payment_link not in text
        assert not any(f'"{name}"' in text for name in ("payment_link", "qr", "pay_url", "qr_image_url", "client_secret"))


def test_dispatch_once_publishes_nothing_without_a_broker_and_says_so(
    environment: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    bill(environment)

    assert cli.main(["dispatch", "--once"]) == 0

    summary = json.loads(capsys.readouterr().out)
    assert summary["dispatch"] == {
        "fanned_out": 0, "delivered": 0, "retrying": 0, "dead": 0, "blocked": 0, "published": 0, "publish_errors": 0,
    }
    assert summary["seconds"] >= 0


def test_the_poller_refuses_an_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("SECRETS_KEY_FILE", str(tmp_path / "secrets.key"))

    assert cli.main(["poll", "--once"]) == 2
    assert "paygate migrate" in capsys.readouterr().err


def test_a_meaningless_interval_is_refused(environment: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["poll", "--interval", "0"]) == 2
    assert "--interval" in capsys.readouterr().err


def test_paygate_poll_runs_until_told_to_stop_and_tells_the_crm_as_soon_as_it_knows(
    environment: Settings, kaspi_simulator: KaspiSimulatorServer, tmp_path: Path
) -> None:
    got_it = threading.Event()
    received: list[dict[str, Any]] = []

    async def hook(request: Request) -> Response:
        received.append(await request.json())
        got_it.set()
        return Response(status_code=204)

    payment = bill(environment)
    assert payment.external_id is not None

    async def subscribe(container: Container) -> None:
        await container.manage_webhooks().add(url=f"{crm}/hook", event_types=["payment.succeeded"])

    with serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as crm:
        with_container(environment, subscribe)
        kaspi_simulator.state.approve(payment.external_id)
        log = (tmp_path / "poller.log").open("w")
        poller = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "poll", "--interval", "0.2"],
            cwd=ROOT, env=os.environ | {"LOG_FORMAT": "json"}, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            arrived = got_it.wait(timeout=30)
        finally:
            poller.send_signal(signal.SIGTERM)
            code = poller.wait(timeout=30)
            log.close()

    output = (tmp_path / "poller.log").read_text()
    assert arrived, output
    assert code == 0
    # What it did, as fields in the words of `--once` and of the deliveries filter.
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    sweeps = [line for line in lines if line["event"] == "poll_sweep"]
    rounds = [line for line in lines if line["event"] == "dispatch_round"]
    assert sweeps[0] | {"timestamp": None} == {
        "timestamp": None, "level": "info", "logger": "paygate.runner", "event": "poll_sweep",
        "checked": 1, "changed": 1, "expired": 0, "errors": 0,
    }
    assert sum(line["delivered"] for line in rounds) == 1
    assert all(set(line) >= {"fanned_out", "delivered", "retrying", "dead", "published", "publish_errors"} for line in rounds)
    [event] = received
    assert (event["type"], event["payment_id"]) == ("payment.succeeded", payment.id)


@pytest.mark.parametrize("command", ["poll", "dispatch", "serve"])
def test_at_start_up_every_subscription_the_target_rules_now_refuse_is_logged(
    environment: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    served: dict[str, Any] = {}
    # `serve` stops where uvicorn would start serving: what it was given is kept.
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(options))
    async def subscribe(container: Container) -> tuple[str, str]:
        internal, _ = await container.manage_webhooks().add(url="http://127.0.0.1:9/hook")
        public, _ = await container.manage_webhooks().add(url="http://93.184.215.14/hook")
        return internal.id, public.id

    internal, public = with_container(environment, subscribe)  # allowed when it was registered
    monkeypatch.setenv("WEBHOOK_ALLOWED_NETWORKS", "")  # and no longer

    assert cli.main([command] if command == "serve" else [command, "--once"]) == 0

    warnings = [line for line in capsys.readouterr().err.splitlines() if "webhook_target_refused" in line]
    assert [line for line in warnings if internal in line] != []
    assert "127.0.0.1 is a loopback address" in " ".join(warnings)
    assert not any(public in line for line in warnings)
    if command == "serve":  # and it serves with the slow-client limits
        assert served["http"].func is LimitedHttpToolsProtocol
