"""simulators/base.py: the knobs and fault countdown, the state every simulator keeps besides its
provider's objects, and the controls every simulator serves (`/knobs`, `/reset`, `/requests`)."""

from __future__ import annotations

import threading
from typing import Any

import attrs
import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators.base import FaultKnobs, SimulatorState, json_object, next_fault, one_of, simulator_app
from simulators.cloudpayments.app import create_cloudpayments_simulator
from simulators.kaspi import create_kaspi_simulator
from simulators.stripe.app import create_stripe_simulator
from simulators.yookassa.app import create_yookassa_simulator

pytestmark = pytest.mark.anyio


@attrs.frozen
class ToyKnobs(FaultKnobs):
    FAULTS = ("none", "timeout", "http_500")
    OPERATIONS = ("create", "status")

    mood: str = attrs.field(default="calm", validator=one_of(("calm", "grumpy")))


@attrs.frozen
class ToyRequest:
    operation: str

    def as_json(self) -> dict[str, Any]:
        return {"operation": self.operation}


class ToyState(SimulatorState[ToyKnobs, ToyRequest]):
    def __init__(self, *, latency_ms: int = 0) -> None:
        super().__init__(knobs=ToyKnobs(latency_ms=latency_ms), hang_seconds=1.0)
        self.orders: list[str] = []

    def _forget(self) -> None:
        self.orders.clear()


def toy_app(state: ToyState, *, empty_knobs_body_allowed: bool = True) -> Any:
    async def echo(request: Request) -> Response:
        return JSONResponse(await json_object(request))

    return simulator_app(state, [Route("/echo", echo, methods=["POST"])], empty_knobs_body_allowed=empty_knobs_body_allowed)


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        ({"fault": "garbage"}, "fault must be one of none, timeout, http_500"),
        ({"fault_operations": ["refund"]}, "unknown operations: refund"),
        ({"fault_count": 0}, "fault_count must be a positive integer or null (every call)"),
        ({"latency_ms": 60_001}, "latency_ms must be an integer from 0 to 60000"),
        ({"mood": "sulky"}, "mood must be one of calm, grumpy"),
    ],
)
def test_knobs_refuse_what_their_simulator_does_not_have(changes: dict[str, Any], refusal: str) -> None:
    with pytest.raises(ValueError) as refused:
        ToyState().set_knobs(**changes)
    assert str(refused.value) == refusal


def test_a_counted_fault_hits_only_its_operations_and_turns_itself_off() -> None:
    knobs = ToyKnobs(fault="http_500", fault_count=2, fault_operations=["create"])
    seen = []
    for operation in ("status", "create", "create", "create"):
        fault, knobs = next_fault(knobs, operation)
        seen.append(fault)
    assert seen == ["none", "http_500", "http_500", "none"]
    assert (knobs.fault, knobs.fault_count) == ("none", None)
    every_call = ToyKnobs(fault="timeout")
    assert next_fault(every_call, "status") == ("timeout", every_call)


def test_a_reset_forgets_the_objects_and_the_requests_and_restores_the_configured_knobs() -> None:
    state = ToyState(latency_ms=40)
    state.orders.append("o-1")
    state.record(ToyRequest("create"))
    state.set_knobs(fault="timeout", latency_ms=0, mood="grumpy")

    state.reset()

    assert (state.orders, state.requests) == ([], [])
    assert state.knobs == ToyKnobs(latency_ms=40)


def test_a_waiting_test_thread_sees_a_request_recorded_on_another_thread() -> None:
    state = ToyState()
    assert not state._wait_until(lambda: len(state.requests) >= 1, 0.01)
    recorder = threading.Thread(target=state.record, args=(ToyRequest("status"),))
    recorder.start()
    assert state._wait_until(lambda: len(state.requests) >= 1, 5.0)
    recorder.join()


async def test_the_controls_show_and_change_the_knobs_reset_and_show_the_requests() -> None:
    state = ToyState()
    state.record(ToyRequest("create"))
    transport = httpx.ASGITransport(app=toy_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://toy") as controls:
        shown = (await controls.get("/knobs")).json()
        changed = await controls.post("/knobs", json={"fault": "timeout", "fault_operations": ["status", "create"]})
        requests = (await controls.get("/requests")).json()
        reset = await controls.post("/reset")

    assert shown == {
        "latency_ms": 0, "fault": "none", "fault_count": None, "fault_operations": [], "mood": "calm",
    }
    assert (changed.status_code, changed.json()["fault_operations"]) == (200, ["create", "status"])
    assert requests == [{"operation": "create"}]
    assert (reset.status_code, reset.json()) == (200, {"reset": True})
    assert (state.requests, state.knobs) == ([], ToyKnobs())


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        (b'{"weather": "fine"}', "unknown knobs: weather"),
        (b'{"fault_operations": "create"}', "fault_operations must be a list"),
        (b'{"fault": "garbage"}', "fault must be one of none, timeout, http_500"),
        (b'{"fault_count": "two"}', "fault_count must be a positive integer or null (every call)"),
        (b"[1]", "the body must be a JSON object"),
        (b"{not json", "the body must be a JSON object"),
    ],
)
async def test_a_knob_change_that_does_not_fit_is_refused_and_changes_nothing(body: bytes, refusal: str) -> None:
    state = ToyState()
    transport = httpx.ASGITransport(app=toy_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://toy") as controls:
        refused = await controls.post("/knobs", content=body)
    assert (refused.status_code, refused.json()) == (400, {"error": refusal})
    assert state.knobs == ToyKnobs()


async def test_a_provider_control_with_a_body_that_is_not_an_object_is_answered_400() -> None:
    transport = httpx.ASGITransport(app=toy_app(ToyState()))
    async with httpx.AsyncClient(transport=transport, base_url="http://toy") as controls:
        echoed = await controls.post("/echo", json={"a": 1})
        empty = await controls.post("/echo")
        refused = await controls.post("/echo", json=["a"])
    assert (echoed.json(), empty.json()) == ({"a": 1}, {})
    assert (refused.status_code, refused.json()) == (400, {"error": "the body must be a JSON object"})


@pytest.mark.parametrize(
    ("app", "controls", "empty_body_answer"),
    [
        (lambda: create_kaspi_simulator(access_token="token"), "", 400),
        (lambda: create_cloudpayments_simulator(), "", 400),
        (lambda: create_yookassa_simulator(), "", 200),
        (lambda: create_stripe_simulator(secret_key="sk_test_x"), "/control", 200),
    ],
    ids=["kaspi", "cloudpayments", "yookassa", "stripe"],
)
async def test_every_simulator_serves_the_shared_controls_where_it_always_did(
    app: Any, controls: str, empty_body_answer: int
) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://sim") as http:
        knobs = await http.post(f"{controls}/knobs", json={"fault": "timeout", "fault_count": 1})
        empty = await http.post(f"{controls}/knobs")
        requests = await http.get(f"{controls}/requests")
        reset = await http.post(f"{controls}/reset")
        after = await http.get(f"{controls}/knobs")

    assert (knobs.status_code, knobs.json()["fault"], knobs.json()["fault_count"]) == (200, "timeout", 1)
    assert empty.status_code == empty_body_answer  # as each simulator always answered an empty body
    assert (requests.status_code, requests.json()) == (200, [])
    assert reset.json() == {"reset": True}
    assert after.json()["fault"] == "none"
