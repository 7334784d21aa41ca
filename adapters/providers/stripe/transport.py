"""The Stripe SDK's HTTP client interface over the provider's shared `httpx.AsyncClient` (async only).

The SDK's own `HTTPXClient` would open a second, unmanaged client (ambient proxies honoured, no
limits of ours) and posts its form body through httpx's deprecated `data=<str>`; this one sends the
body as `content=` through the client `build_http_client` made, which its owner closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from typing import Any

import anyio
import httpx
import stripe


class StripeTransportError(stripe.APIConnectionError):
    """No answer from Stripe; `timed_out` tells a timeout from a refused or broken connection."""

    def __init__(self, message: str, *, timed_out: bool) -> None:
        super().__init__(message, should_retry=False)  # type: ignore[no-untyped-call]  # the SDK leaves it unannotated
        self.timed_out = timed_out


class HttpxTransport(stripe.HTTPClient):
    name = "httpx"

    def __init__(self, client: httpx.AsyncClient, *, timeout: float) -> None:
        super().__init__()
        self._client = client
        self._timeout = timeout

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            response = await self._client.request(
                method, url, headers=dict(headers), content=post_data or None, timeout=self._timeout
            )
        except httpx.TimeoutException:
            # Never the httpx message: it may carry the URL. The cause is dropped for the same reason.
            raise StripeTransportError(f"no answer within {self._timeout:g} s", timed_out=True) from None
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise StripeTransportError(type(error).__name__, timed_out=False) from None
        return response.content, response.status_code, response.headers

    async def request_stream_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[AsyncIterable[bytes], int, Mapping[str, str]]:
        raise NotImplementedError("the gateway calls no streaming Stripe endpoint")

    def sleep_async(self, secs: float) -> Any:
        return anyio.sleep(secs)

    async def close_async(self) -> None:
        """The shared client belongs to the container, which closes it."""

    def close(self) -> None:
        """Nothing to close: see `close_async`. (The synchronous `request` stays the base class's refusal:
        the gateway never calls Stripe synchronously, which would block the event loop.)"""
