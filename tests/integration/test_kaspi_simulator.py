"""The Kaspi proxy simulator's own contract: its wire answers, its controls and its knobs."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from adapters.providers.kaspi_proxy.wire import KASPI_TIMEZONE

from simulators.kaspi import KaspiSimulatorState
from tests.support.servers import KaspiSimulatorServer, run_kaspi_simulator

BIN = "891027350515"


@pytest.fixture
def http(kaspi_simulator: KaspiSimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=kaspi_simulator.control_url, timeout=5) as client:
        yield client


def call(http: httpx.Client, simulator: KaspiSimulatorServer, operation: str, **params: str) -> httpx.Response:
    return http.get(f"/api/v2/paymentkaspi/{operation}/", params={**params, "access_token": simulator.access_token})


def create(http: httpx.Client, simulator: KaspiSimulatorServer, **overrides: str) -> httpx.Response:
    params = {
        "phone": "77015211545",
        "amount": "100",
        "message": "Roses",
        "organizationBin": BIN,
        "deviceToken": str(uuid.uuid4()),
        **overrides,
    }
    return call(http, simulator, "create", **params)


def kaspi_error(response: httpx.Response) -> tuple[int, str]:
    body: dict[str, Any] = response.json()
    assert body["status"] is False
    [code] = body["data"]["errors"]
    return response.status_code, code


# --- The wire ------------------------------------------------------------------------------------


def test_create_answers_like_the_proxy(http: httpx.Client, kaspi_simulator: KaspiSimulatorServer) -> None:
    answer = create(http, kaspi_simulator)

    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] is True and body["http_code"] == 200
    assert body["data"]["status"] == "Wait"
    assert len(body["data"]["externalId"]) == 11 and body["data"]["externalId"].startswith("128")


def test_create_link_answers_like_the_proxy(http: httpx.Client, kaspi_simulator: KaspiSimulatorServer) -> None:
    answer = call(
        http, kaspi_simulator, "create-link", amount="7500.25", organizationBin=BIN, deviceToken=str(uuid.uuid4())
    )

    data = answer.json()["data"]
    assert data["paymentLink"].startswith("https://pay.kaspi.kz/pay/") and len(data["paymentLink"]) == 25 + 41
    assert data["expireDate"].endswith("+05:00")
    assert datetime.fromisoformat(data["expireDate"]) > datetime.now(KASPI_TIMEZONE)
    viewed = kaspi_simulator.state.view(data["paymentId"])
    assert viewed is not None and viewed["amount"] == 7500.25


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"deviceToken": ""}, (200, "-1501")),
        ({"deviceToken": "not-a-guid"}, (200, "-1501")),
        ({"amount": "0"}, (200, "990000028")),
        ({"amount": "-5"}, (200, "990000028")),
        ({"amount": "10.005"}, (200, "990000028")),
        ({"amount": "ten"}, (200, "990000028")),
    ],
)
def test_kaspi_refusals(
    http: httpx.Client, kaspi_simulator: KaspiSimulatorServer, overrides: dict[str, str], expected: tuple[int, str]
) -> None:
    assert kaspi_error(create(http, kaspi_simulator, **overrides)) == expected
    assert kaspi_simulator.state.payments() == []


@pytest.mark.parametrize(
    "overrides",
    [{"organizationBin": "180340021792"}, {"organizationBin": "89102735051"}, {"phone": "87015211545"}, {"phone": ""}],
)
def test_malformed_parameters_are_refused_by_the_proxy(
    http: httpx.Client, kaspi_simulator: KaspiSimulatorServer, overrides: dict[str, str]
) -> None:
    answer = create(http, kaspi_simulator, **overrides)

    assert answer.status_code == 400
    assert answer.json()["status"] is False and answer.json()["error"]


def test_a_wrong_access_token_is_a_401(http: httpx.Client, kaspi_simulator: KaspiSimulatorServer) -> None:
    answer = http.get("/api/v2/paymentkaspi/status/", params={"externalId": "1", "access_token": "nope"})

    assert answer.status_code == 401
    assert answer.json() == {"status": False, "error": "Invalid access token"}


def test_refunds_follow_kaspi_rules(http: httpx.Client, kaspi_simulator: KaspiSimulatorServer) -> None:
    device = str(uuid.uuid4())
    external_id = create(http, kaspi_simulator, amount="100", deviceToken=device).json()["data"]["externalId"]

    def refund(amount: str, bin_: str = BIN) -> httpx.Response:
        return call(
            http, kaspi_simulator, "refund", externalId=external_id, amount=amount, organizationBin=bin_,
            deviceToken=device,
        )

    assert kaspi_error(refund("10")) == (200, "-99000011")  # not paid yet
    kaspi_simulator.state.approve(external_id)
    first = refund("50").json()["data"]
    assert kaspi_error(refund("50", bin_="180340021791")) == (200, "-99000003")
    assert kaspi_error(refund("50.01")) == (200, "-99000005")
    second = refund("50").json()["data"]
    assert kaspi_error(refund("0.01")) == (200, "-99000005")
    unknown = call(
        http, kaspi_simulator, "refund", externalId="12899999999", amount="1", organizationBin=BIN, deviceToken=device
    )

    assert (first["refundedAmount"], second["refundedAmount"]) == (50, 50)
    assert first["returnOperationId"] != second["returnOperationId"]
    assert kaspi_error(unknown) == (200, "-1601")
    # Kaspi keeps a refunded purchase Processed.
    assert call(http, kaspi_simulator, "status", externalId=external_id).json()["data"]["status"] == "Processed"


# --- Controls ------------------------------------------------------------------------------------


def test_the_payment_view_never_shows_the_device_token(
    http: httpx.Client, kaspi_simulator: KaspiSimulatorServer
) -> None:
    device = str(uuid.uuid4())
    external_id = create(http, kaspi_simulator, deviceToken=device).json()["data"]["externalId"]

    view = http.get(f"/payments/{external_id}")
    listing = http.get("/payments")
    recorded = http.get("/requests")

    assert view.status_code == 200
    assert view.json()["organizationBin"] == BIN and view.json()["phone"] == "77015211545"
    assert [p["externalId"] for p in listing.json()["payments"]] == [external_id]
    for answer in (view, listing, recorded):
        assert device not in answer.text and kaspi_simulator.access_token not in answer.text
    assert device not in repr(kaspi_simulator.state.payments())


def test_approve_decline_and_expire_close_a_pending_payment_once(
    http: httpx.Client, kaspi_simulator: KaspiSimulatorServer
) -> None:
    ids = [create(http, kaspi_simulator).json()["data"]["externalId"] for _ in range(3)]

    closed = [http.post(f"/payments/{i}/{action}") for i, action in zip(ids, ["approve", "decline", "expire"], strict=True)]
    again = http.post(f"/payments/{ids[0]}/decline")

    assert [(c.status_code, c.json()["status"], c.json()["closedBy"]) for c in closed] == [
        (200, "Processed", "customer"), (200, "Error", "decline"), (200, "Error", "expire"),
    ]
    assert again.status_code == 409
    assert http.post("/payments/12899999999/approve").status_code == 404
    assert http.post(f"/payments/{ids[0]}/refund").status_code == 404
    assert http.get("/payments/12899999999").status_code == 404


def test_an_unopened_link_lapses_into_error_after_its_expiry() -> None:
    now = [datetime(2025, 10, 22, 17, 0, tzinfo=KASPI_TIMEZONE)]
    state = KaspiSimulatorState(clock=lambda: now[0], link_lifetime=timedelta(minutes=3))
    payment = state.create(
        kind="link", organization_bin=BIN, device_token=str(uuid.uuid4()), amount=Decimal(1), message="", phone=None
    )

    before = state.status_of(payment.external_id)
    now[0] += timedelta(minutes=3)

    assert (before, state.status_of(payment.external_id)) == ("QrTokenCreated", "Error")


def test_knobs_are_validated_and_reset(http: httpx.Client, kaspi_simulator: KaspiSimulatorServer) -> None:
    bad = [
        {"fault": "meteor"},
        {"fault_count": 0},
        {"fault_operations": ["delete"]},
        {"fault_operations": "create"},
        {"success_key": "ok"},
        {"latency_ms": -1},
        {"hold_answer_ms": 60_001},
        {"empty_refund_body": "yes"},
        {"colour": "red"},
    ]
    refusals = [http.post("/knobs", json=knobs).status_code for knobs in bad]
    changed = http.post("/knobs", json={"fault": "http_502", "fault_operations": ["status"], "latency_ms": 5})
    create(http, kaspi_simulator)

    assert refusals == [400] * len(bad)
    assert changed.json() == {
        "latency_ms": 5, "hold_answer_ms": 0, "fault": "http_502", "fault_count": None, "fault_operations": ["status"],
        "empty_refund_body": False, "success_key": "status",
    }
    assert call(http, kaspi_simulator, "status", externalId="1").status_code == 502
    assert http.post("/reset").status_code == 200
    assert http.get("/knobs").json()["fault"] == "none"
    assert http.get("/payments").json() == {"payments": []}
    assert kaspi_simulator.state.requests == []


def test_a_counted_fault_hits_only_its_operations_and_wears_off(
    http: httpx.Client, kaspi_simulator: KaspiSimulatorServer
) -> None:
    kaspi_simulator.state.set_knobs(fault="http_500", fault_count=2, fault_operations=["create"])

    statuses = [call(http, kaspi_simulator, "status", externalId="1").status_code]
    statuses += [create(http, kaspi_simulator).status_code for _ in range(3)]

    assert statuses == [200, 500, 500, 200]
    assert kaspi_simulator.state.knobs.fault == "none"


def test_the_garbage_fault_performs_the_operation_and_loses_the_answer(
    http: httpx.Client, kaspi_simulator: KaspiSimulatorServer
) -> None:
    kaspi_simulator.state.set_knobs(fault="garbage", fault_count=1)

    answer = create(http, kaspi_simulator)

    assert answer.status_code == 200 and not answer.text.startswith("{")
    assert len(kaspi_simulator.state.payments()) == 1


def test_a_held_answer_comes_after_the_operation_was_done_or_never_if_the_client_hangs_up(
    http: httpx.Client, kaspi_simulator: KaspiSimulatorServer
) -> None:
    state = kaspi_simulator.state
    state.set_knobs(hold_answer_ms=60_000)
    url = httpx.URL(kaspi_simulator.base_url)
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as impatient:
        impatient.connect((url.host, url.port or 80))
        query = f"phone=77015211545&amount=10&organizationBin={BIN}&deviceToken={uuid.uuid4()}"
        query += f"&access_token={kaspi_simulator.access_token}"
        impatient.sendall(f"GET {url.raw_path.decode()}/create/?{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        # Done at Kaspi while the answer is still held: the window a gateway can die in.
        assert state.wait_for_payments(1)
    state.set_knobs(hold_answer_ms=50)

    started = time.monotonic()
    answer = create(http, kaspi_simulator)

    assert answer.status_code == 200 and answer.json()["status"] is True
    assert time.monotonic() - started >= 0.05
    assert len(state.payments()) == 2


def test_a_hanging_request_does_not_block_shutdown() -> None:
    state = KaspiSimulatorState(hang_seconds=30)
    state.set_knobs(fault="timeout")
    # The client outlives the server: connected and patient, it never gives up on its own.
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as client:
        with run_kaspi_simulator(state=state) as simulator:
            url = httpx.URL(simulator.base_url)
            client.connect((url.host, url.port or 80))
            query = f"externalId=1&access_token={simulator.access_token}"
            client.sendall(f"GET {url.raw_path.decode()}/status/?{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert state.wait_for_requests("status", 1)
            started = time.monotonic()
        stopped_after = time.monotonic() - started

    assert stopped_after < 10  # not the 30 s the request would hang
