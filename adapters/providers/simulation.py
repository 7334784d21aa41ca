"""What the provider simulators share: waiting inside a handler without outliving its client."""

from __future__ import annotations

import anyio
from starlette.requests import Request


async def wait_or_disconnect(request: Request, seconds: float) -> None:
    """Wait up to `seconds`, less if the client goes away: a hung handler never outlives its client.

    Cancellation (a server shutdown) ends the wait too.
    """
    if seconds <= 0:
        return
    with anyio.move_on_after(seconds):
        while (await request.receive())["type"] != "http.disconnect":
            pass
