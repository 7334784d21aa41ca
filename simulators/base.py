"""What the provider simulators share: knob validation, the fault countdown, `POST /knobs`, and
waiting inside a handler without outliving its client."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Protocol, TypeVar

import anyio
import attrs
from starlette.requests import Request
from starlette.responses import JSONResponse, Response


async def wait_or_disconnect(request: Request, seconds: float) -> None:
    """Wait up to `seconds`, less if the client goes away: a hung handler never outlives its client.

    Cancellation (a server shutdown) ends the wait too.
    """
    if seconds <= 0:
        return
    with anyio.move_on_after(seconds):
        while (await request.receive())["type"] != "http.disconnect":
            pass


def apply_knob_changes(
    changes: dict[str, Any] | None, knobs_class: type, set_knobs: Callable[..., Any]
) -> Response:
    """The simulators' shared `POST /knobs`: refuse unknown or mistyped knobs, apply, answer the knobs."""
    if changes is None:
        return JSONResponse({"error": "the body must be a JSON object"}, 400)
    unknown = set(changes) - {a.name for a in attrs.fields(knobs_class)}
    if unknown:
        return JSONResponse({"error": f"unknown knobs: {', '.join(sorted(unknown))}"}, 400)
    if isinstance(changes.get("fault_operations"), str):
        return JSONResponse({"error": "fault_operations must be a list"}, 400)
    try:
        knobs = set_knobs(**changes)
    except (ValueError, TypeError) as refusal:
        return JSONResponse({"error": str(refusal)}, 400)
    return JSONResponse(knobs.as_json())


# --- Knobs: each simulator's `Knobs` is an attrs class built from these validators -----------------

Validator = Callable[[object, "attrs.Attribute[Any]", Any], None]


def one_of(choices: Collection[str]) -> Validator:
    def check(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            raise ValueError(f"{attribute.name} must be one of {', '.join(choices)}")

    return check


def operations_among(operations: Collection[str]) -> Validator:
    """For `fault_operations`: a set of the simulator's operation names (empty means all)."""

    def check(_instance: object, _attribute: attrs.Attribute[Any], value: frozenset[str]) -> None:
        unknown = value - set(operations)
        if unknown:
            raise ValueError(f"unknown operations: {', '.join(sorted(unknown))}")

    return check


def check_fault_count(_instance: object, _attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and (type(value) is not int or value < 1):
        raise ValueError("fault_count must be a positive integer or null (every call)")


def check_milliseconds(_instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if type(value) is not int or not 0 <= value <= 60_000:
        raise ValueError(f"{attribute.name} must be an integer from 0 to 60000")


class FaultKnobs(Protocol):
    # Read-only: the simulators' knobs are frozen attrs classes, changed by `attrs.evolve`.
    @property
    def fault(self) -> str: ...

    @property
    def fault_count(self) -> int | None: ...

    @property
    def fault_operations(self) -> frozenset[str]: ...


K = TypeVar("K", bound=FaultKnobs)


def next_fault(knobs: K, operation: str) -> tuple[str, K]:
    """The fault `operation` suffers now ("none" if none), and the knobs after counting it down:
    `fault_count` None means every matching call, and the last counted call turns the fault off."""
    if knobs.fault == "none" or (knobs.fault_operations and operation not in knobs.fault_operations):
        return "none", knobs
    if knobs.fault_count is None:
        return knobs.fault, knobs
    left = knobs.fault_count - 1
    # Every simulator's knobs are an attrs class; a Protocol cannot say so to mypy's attrs plugin.
    evolve: Callable[..., K] = attrs.evolve
    after = evolve(knobs, fault_count=left) if left else evolve(knobs, fault="none", fault_count=None)
    return knobs.fault, after
