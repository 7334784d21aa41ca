"""What every provider's wiring shares: its HTTP client as a resource, and "built only when enabled"."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx

from application.ports import PaymentProvider

from adapters.providers.aiohttp_transport import PlainHttpClient
from adapters.providers.http_client import build_http_client, build_plain_http_client


async def plain_http_client() -> AsyncIterator[PlainHttpClient]:
    async with build_plain_http_client() as client:
        yield client


async def http_client(timeout: float) -> AsyncIterator[httpx.AsyncClient]:
    client = build_http_client(timeout=timeout)
    try:
        yield client
    finally:
        await client.aclose()


def if_enabled(enabled: bool, adapter: Callable[[], PaymentProvider]) -> PaymentProvider | None:
    """The adapter when its settings enable it; a disabled provider is never even built."""
    return adapter() if enabled else None
