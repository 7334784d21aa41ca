"""Provider HTTP on aiohttp: an httpx transport, and a plain GET client for the hottest adapter.

httpx's own transport spends about 3 ms of CPU per request under concurrency (measured with
`bench/clients.py`: ~300 req/s at 32 concurrent calls against a local server); aiohttp's pool does
the same request for about a tenth of that. httpx's request and response models still cost about
0.4 ms a call on top (0.58 against aiohttp's 0.18 ms): the Kaspi adapter, whose every call is one
GET, uses `PlainHttpClient` and skips them; adapters that want httpx's API keep the transport.
Neither ever resends a request: aiohttp, by default, silently repeats a GET whose pooled keep-alive
connection the server closed after the request was written, and a Kaspi `create` is a GET with side
effects (a second bill on the customer's phone).
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping

import aiohttp
import attrs
import httpx
from aiohttp.abc import AbstractResolver

# The exceptions a provider adapter sees, by what happened; the aiohttp type goes in the message
# only, never aiohttp's own text (some of it carries the request URL, and so its tokens).
_CONNECT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ClientProxyConnectionError)
_INVALID_URL = (aiohttp.InvalidURL,)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends each httpx request through one shared `aiohttp.ClientSession`, reading the whole answer."""

    def __init__(
        self,
        *,
        max_connections: int,
        keepalive_expiry: float,
        verify: ssl.SSLContext | None = None,
        resolver: AbstractResolver | None = None,
    ) -> None:
        # httpx decodes Content-Encoding itself.
        self._session = _LazySession(max_connections, keepalive_expiry, verify, decompress=False, resolver=resolver)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session.get()
        timeouts: Mapping[str, float | None] = request.extensions.get("timeout", {})
        body = await request.aread()
        try:
            async with session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                timeout=_timeout(timeouts),
            ) as answer:
                content = await answer.read()
                headers = answer.raw_headers
                status = answer.status
                reason = answer.reason
        except aiohttp.ConnectionTimeoutError:
            raise httpx.ConnectTimeout("no connection within the timeout", request=request) from None
        except (aiohttp.SocketTimeoutError, TimeoutError):
            raise httpx.ReadTimeout("no answer within the timeout", request=request) from None
        except _CONNECT_ERRORS as error:
            raise httpx.ConnectError(f"cannot connect ({type(error).__name__})", request=request) from None
        except aiohttp.ServerDisconnectedError:
            raise httpx.RemoteProtocolError(
                "the server closed the connection without an answer", request=request
            ) from None
        except aiohttp.ClientPayloadError as error:
            raise httpx.ReadError(f"the answer was cut short ({type(error).__name__})", request=request) from None
        except aiohttp.ClientResponseError as error:
            raise httpx.RemoteProtocolError(f"malformed answer ({type(error).__name__})", request=request) from None
        except _INVALID_URL:
            raise httpx.UnsupportedProtocol("the URL cannot be requested", request=request) from None
        except (aiohttp.ClientError, OSError) as error:
            raise httpx.NetworkError(f"network error ({type(error).__name__})", request=request) from None
        extensions = {"http_version": b"HTTP/1.1"}
        if reason:
            extensions["reason_phrase"] = reason.encode("latin-1", "replace")
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content), extensions=extensions)

    async def aclose(self) -> None:
        await self._session.close()


def _timeout(timeouts: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
    connect, pool = timeouts.get("connect"), timeouts.get("pool")
    # aiohttp's `connect` covers the wait for a pooled connection and opening one: httpx's pool + connect.
    acquire = None if connect is None or pool is None else connect + pool
    return aiohttp.ClientTimeout(total=None, connect=acquire, sock_connect=connect, sock_read=timeouts.get("read"))


@attrs.frozen
class PlainAnswer:
    status: int
    body: bytes


class PlainHttpTimeout(Exception):
    """No answer within the call's timeout: whether the server acted on the request is unknown."""


class PlainHttpFailure(Exception):
    """The call failed without an answer; `kind` names how (never the URL, which may hold tokens)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class PlainHttpClient:
    """GETs on one shared aiohttp session: the whole answer read, redirects returned, never resent."""

    def __init__(self, *, max_connections: int, keepalive_expiry: float, verify: ssl.SSLContext | None = None) -> None:
        self._session = _LazySession(max_connections, keepalive_expiry, verify, decompress=True)

    async def get(self, url: str, params: Mapping[str, str], *, timeout: float) -> PlainAnswer:
        """Raises `PlainHttpTimeout` after `timeout` seconds in all, `PlainHttpFailure` otherwise."""
        try:
            async with self._session.get().get(
                url, params=params, allow_redirects=False, timeout=_total_timeout(timeout)
            ) as answer:
                return PlainAnswer(answer.status, await answer.read())
        except (aiohttp.ConnectionTimeoutError, aiohttp.SocketTimeoutError, TimeoutError):
            raise PlainHttpTimeout(f"no answer within {timeout:g} s") from None
        except _CONNECT_ERRORS:
            raise PlainHttpFailure("ConnectError") from None
        except aiohttp.ServerDisconnectedError:
            raise PlainHttpFailure("ServerDisconnected") from None
        except (aiohttp.ClientError, OSError) as error:
            raise PlainHttpFailure(type(error).__name__) from None

    async def aclose(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> PlainHttpClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


@functools.lru_cache(maxsize=16)
def _total_timeout(seconds: float) -> aiohttp.ClientTimeout:
    # One per configured timeout, not one per call: building the attrs object is measurable.
    return aiohttp.ClientTimeout(total=seconds)


class _LazySession:
    """One aiohttp session, built at the first call inside the running loop aiohttp binds it to."""

    def __init__(
        self,
        max_connections: int,
        keepalive_expiry: float,
        verify: ssl.SSLContext | None,
        *,
        decompress: bool,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self._max_connections = max_connections
        self._resolver = resolver
        self._keepalive_expiry = keepalive_expiry
        self._ssl = verify if verify is not None else ssl.create_default_context()
        self._decompress = decompress
        self._session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections,
                    keepalive_timeout=self._keepalive_expiry,
                    ssl=self._ssl,
                    resolver=self._resolver,
                    # A resolver of our own answers every lookup itself (webhooks pin the checked addresses).
                    use_dns_cache=self._resolver is None,
                ),
                auto_decompress=self._decompress,
                # No cookies kept between calls, and nothing read from the environment (HTTP_PROXY...).
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
            # No public switch exists; aiohttp's own test client turns it off the same way. Covered
            # by tests/integration/test_provider_http_client.py, which fails if a request is resent.
            self._session._retry_connection = False
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
