"""The one place a provider's shared HTTP client is built; the caller owns it and closes it."""

from __future__ import annotations

import httpx
from aiohttp.abc import AbstractResolver

from adapters.providers.aiohttp_transport import AiohttpTransport, PlainHttpClient
from adapters.redaction import protect_http_client_loggers

# Concurrent calls per provider. A lower cap only queues calls inside Paygate, where the wait eats
# into the call's timeout: 400 customers paying at once against a proxy answering in 200 ms need
# 400 connections, and every idle one is closed after KEEPALIVE_EXPIRY_SECONDS anyway.
MAX_CONNECTIONS = 1000
# Below the shortest common server keep-alive (Apache's 5 s, typical for PHP proxies): we drop an
# idle connection before the server does, so a request is never written into a socket the server
# is closing, which would turn a `create` that never arrived into an unknown outcome.
KEEPALIVE_EXPIRY_SECONDS = 4.0


def build_http_client(
    *, timeout: float, max_connections: int = MAX_CONNECTIONS, resolver: AbstractResolver | None = None
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` with explicit limits and timeouts, no redirects and no ambient proxies.

    Requests run on aiohttp (`AiohttpTransport`): httpx's own transport costs ~3 ms of CPU per
    call under concurrency, which would bound every provider call by the client library.
    `resolver` replaces DNS for every connection (webhooks connect only to checked addresses).
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    if max_connections < 1:
        raise ValueError("max_connections must be at least 1")
    # Provider URLs carry secrets (the Kaspi proxy takes its token as a query parameter).
    protect_http_client_loggers()
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        transport=AiohttpTransport(
            max_connections=max_connections, keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS, resolver=resolver
        ),
        # A redirect would replay a token-bearing, non-idempotent GET somewhere else.
        follow_redirects=False,
        # HTTP(S)_PROXY from the environment would route token-bearing URLs through a third party
        # nobody configured on purpose; egress proxies must be explicit configuration.
        trust_env=False,
    )


def build_plain_http_client() -> PlainHttpClient:
    """The plain GET client (`PlainHttpClient`), with the same limits; each call sets its timeout."""
    protect_http_client_loggers()
    return PlainHttpClient(max_connections=MAX_CONNECTIONS, keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS)
