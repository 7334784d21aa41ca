"""What the provider simulators share: their knobs and fault countdown, the memory around their
provider's objects (knobs, request log, lock, reset), the controls every one serves (`/knobs`,
`/reset`, `/requests`), and waiting inside a handler without outliving its client.

A provider's module keeps its wire protocol and its own rules: its `Knobs` subclass `FaultKnobs`,
its state subclasses `SimulatorState`, and `simulator_app(state, routes)` serves its routes with the
shared controls. The sandbox, a gateway inside the process with no HTTP wire and knobs of its own,
takes only `json_object` and `check_milliseconds` for its controls.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import anyio
import attrs
import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route


async def wait_or_disconnect(request: Request, seconds: float) -> None:
    """Wait up to `seconds`, less if the client goes away: a hung handler never outlives its client.

    Cancellation (a server shutdown) ends the wait too.
    """
    if seconds <= 0:
        return
    with anyio.move_on_after(seconds):
        while (await request.receive())["type"] != "http.disconnect":
            pass


# --- Knobs: validators, and the knobs every simulator has ----------------------------------------------

Validator = Callable[[object, "attrs.Attribute[Any]", Any], None]


def one_of(choices: Collection[str]) -> Validator:
    def check(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            raise ValueError(f"{attribute.name} must be one of {', '.join(choices)}")

    return check


def check_fault_count(_instance: object, _attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and (type(value) is not int or value < 1):
        raise ValueError("fault_count must be a positive integer or null (every call)")


def check_milliseconds(_instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if type(value) is not int or not 0 <= value <= 60_000:
        raise ValueError(f"{attribute.name} must be an integer from 0 to 60000")


def _a_fault_of_its_simulator(instance: FaultKnobs, attribute: attrs.Attribute[Any], value: str) -> None:
    one_of(type(instance).FAULTS)(instance, attribute, value)


def _operation_names(names: Iterable[str]) -> frozenset[str]:
    # A typed converter (not `frozenset` itself), so that a caller's list of names type-checks.
    return frozenset(names)


def _operations_of_its_simulator(instance: FaultKnobs, _attribute: attrs.Attribute[Any], value: frozenset[str]) -> None:
    unknown = value - set(type(instance).OPERATIONS)
    if unknown:
        raise ValueError(f"unknown operations: {', '.join(sorted(unknown))}")


@attrs.frozen
class FaultKnobs:
    """How a simulator misbehaves: its latency and its fault. A provider's `Knobs` subclasses this,
    naming its `FAULTS` ("none" first) and `OPERATIONS`, and adds knobs of its own (with defaults).

    `fault_count` None means every matching call; `fault_operations` empty means every operation.
    Frozen: a change is a new value (`SimulatorState.set_knobs`), validated as a whole.
    """

    FAULTS: ClassVar[tuple[str, ...]] = ("none",)
    OPERATIONS: ClassVar[tuple[str, ...]] = ()

    latency_ms: int = attrs.field(default=0, validator=check_milliseconds)
    fault: str = attrs.field(default="none", validator=_a_fault_of_its_simulator)
    fault_count: int | None = attrs.field(default=None, validator=check_fault_count)
    fault_operations: frozenset[str] = attrs.field(
        default=frozenset(), converter=_operation_names, validator=_operations_of_its_simulator
    )

    def as_json(self) -> dict[str, Any]:
        """Every knob by its name, the fault's operations as a sorted list."""
        knobs = {field.name: getattr(self, field.name) for field in attrs.fields(type(self))}
        return {name: sorted(value) if isinstance(value, frozenset) else value for name, value in knobs.items()}


K = TypeVar("K", bound=FaultKnobs)


def next_fault(knobs: K, operation: str) -> tuple[str, K]:
    """The fault `operation` suffers now ("none" if none), and the knobs after counting it down:
    `fault_count` None means every matching call, and the last counted call turns the fault off."""
    if knobs.fault == "none" or (knobs.fault_operations and operation not in knobs.fault_operations):
        return "none", knobs
    if knobs.fault_count is None:
        return knobs.fault, knobs
    left = knobs.fault_count - 1
    after = attrs.evolve(knobs, fault_count=left) if left else attrs.evolve(knobs, fault="none", fault_count=None)
    return knobs.fault, after


# --- A simulator's memory, besides its provider's objects --------------------------------------------


class Recorded(Protocol):
    """One request as a simulator received it, secrets masked; `GET /requests` shows `as_json()`."""

    def as_json(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=Recorded)


class SimulatorState(abc.ABC, Generic[K, R]):
    """The knobs (and what a reset returns them to), the fault countdown and the request log.

    Thread-safe: the simulator's server and a test's own thread both change it. `_lock` is a
    `Condition` over a re-entrant lock: a subclass keeps its provider's objects under it, and a test
    waits on it (`_wait_until`) for what arrives on the server's thread.
    """

    def __init__(self, *, knobs: K, hang_seconds: float) -> None:
        # `hang_seconds` bounds the `timeout` fault: longer than any client timeout, but finite.
        self.hang_seconds = hang_seconds
        self._lock = threading.Condition(threading.RLock())
        # What `reset` returns to: a configured latency (demos, benchmarks) outlives a reset.
        self._initial_knobs = knobs
        self._knobs = knobs
        self._requests: list[R] = []

    @property
    def knobs(self) -> K:
        with self._lock:
            return self._knobs

    def set_knobs(self, **changes: Any) -> K:
        """Change some knobs, keep the rest; raises ValueError/TypeError for a bad value."""
        with self._lock:
            self._knobs = attrs.evolve(self._knobs, **changes)
            return self._knobs

    def take_fault(self, operation: str) -> str:
        """The fault this call suffers, counting it against `fault_count`."""
        with self._lock:
            fault, self._knobs = next_fault(self._knobs, operation)
            return fault

    def record(self, request: R) -> None:
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()

    @property
    def requests(self) -> list[R]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        """Forget the provider's objects and the requests; the knobs return to their initial values."""
        with self._lock:
            self._forget()
            self._requests.clear()
            self._knobs = self._initial_knobs

    @abc.abstractmethod
    def _forget(self) -> None:
        """Forget what the provider keeps (called by `reset`, the lock held)."""

    def _wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Block until `condition` (checked under the lock) holds, at most `timeout` seconds."""
        with self._lock:
            return self._lock.wait_for(condition, timeout=timeout)


def masked_headers(request: Request, *, authorization: str) -> dict[str, str]:
    """The request's headers by lower-case name, `Authorization` shown as `authorization` (e.g. "Basic ***")."""
    return {
        name.lower(): authorization if name.lower() == "authorization" else value
        for name, value in request.headers.items()
    }


# --- The app, and the controls every simulator serves -------------------------------------------------


def simulator_app(
    state: SimulatorState[Any, Any],
    routes: Sequence[BaseRoute],
    *,
    controls_prefix: str = "",
    empty_knobs_body_allowed: bool = True,
) -> Starlette:
    """A simulator as a Starlette app (mount it anywhere): its provider's `routes`, then the shared
    controls (`control_routes`); a control's body that is not a JSON object is answered 400.
    `app.state.simulator` holds `state`."""
    app = Starlette(
        routes=[
            *routes,
            *control_routes(state, prefix=controls_prefix, empty_knobs_body_allowed=empty_knobs_body_allowed),
        ],
        exception_handlers={NotAJsonObject: refuse_body},
    )
    app.state.simulator = state
    return app



class NotAJsonObject(ValueError):
    """A control's body that is not a JSON object; `refuse_body` answers it."""


async def json_object(request: Request, *, empty_allowed: bool = True) -> dict[str, Any]:
    """A control's body as a JSON object (`{}` for an empty body, where allowed); else NotAJsonObject."""
    raw = await request.body()
    if empty_allowed and not raw.strip():
        return {}
    try:
        document = msgspec.json.decode(raw)
    except ValueError:
        raise NotAJsonObject("body is not JSON") from None
    if not isinstance(document, dict):
        raise NotAJsonObject("body must be a JSON object")
    return document


async def refuse_body(_request: Request, _refusal: Exception) -> Response:
    """The exception handler for NotAJsonObject: a simulator app's `exception_handlers` entry."""
    return JSONResponse({"error": "the body must be a JSON object"}, 400)


def control_routes(
    state: SimulatorState[Any, Any], *, prefix: str = "", empty_knobs_body_allowed: bool = True
) -> list[Route]:
    """`GET {prefix}/knobs`, `POST {prefix}/knobs` (some knobs changed, the rest kept; an empty body
    changes nothing where allowed), `POST {prefix}/reset` and `GET {prefix}/requests`."""

    async def show_knobs(_request: Request) -> Response:
        return JSONResponse(state.knobs.as_json())

    async def change_knobs(request: Request) -> Response:
        try:
            changes = await json_object(request, empty_allowed=empty_knobs_body_allowed)
        except NotAJsonObject as refusal:
            return await refuse_body(request, refusal)
        unknown = set(changes) - {field.name for field in attrs.fields(type(state.knobs))}
        if unknown:
            return JSONResponse({"error": f"unknown knobs: {', '.join(sorted(unknown))}"}, 400)
        if isinstance(changes.get("fault_operations"), str):
            return JSONResponse({"error": "fault_operations must be a list"}, 400)
        try:
            knobs = state.set_knobs(**changes)
        except (ValueError, TypeError) as refusal:
            return JSONResponse({"error": str(refusal)}, 400)
        return JSONResponse(knobs.as_json())

    async def reset(_request: Request) -> Response:
        state.reset()
        return JSONResponse({"reset": True})

    async def show_requests(_request: Request) -> Response:
        return JSONResponse([recorded.as_json() for recorded in state.requests])

    return [
        Route(f"{prefix}/knobs", show_knobs, methods=["GET"]),
        Route(f"{prefix}/knobs", change_knobs, methods=["POST"]),
        Route(f"{prefix}/reset", reset, methods=["POST"]),
        Route(f"{prefix}/requests", show_requests, methods=["GET"]),
    ]
