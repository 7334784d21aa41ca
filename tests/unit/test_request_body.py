"""Reading a request body: a client that goes away is a 4xx of its own, not a server error."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from entrypoints.http.json_body import BadRequest, read_body

pytestmark = pytest.mark.anyio


async def test_a_client_that_disconnects_mid_body_is_not_a_server_error() -> None:
    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    request = Request({"type": "http", "method": "POST", "headers": []}, receive)
    with pytest.raises(BadRequest) as refused:
        await read_body(request)
    assert (refused.value.code, refused.value.status) == ("client_disconnected", 400)
