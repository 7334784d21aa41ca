"""What the provider simulators share: waiting inside a handler without outliving its client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
