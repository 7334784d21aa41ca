"""The shared provider HTTP client against raw HTTP servers that misbehave on purpose.

Every provider adapter catches httpx's exceptions, so the transport under the client must raise
them for each way a call can go wrong, and must never send a request twice on its own.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from adapters.providers.aiohttp_transport import PlainHttpFailure, PlainHttpTimeout
from adapters.providers.http_client import build_http_client, build_plain_http_client

SECRET = "tok-3f9a1c"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class RawServer:
    """Counts the requests it reads; `handler(reader, writer, n)` answers the n-th one (1-based)."""

    def __init__(self, handler: Handler) -> None:
        self.requests = 0
        self.connections = 0
        self._handler = handler

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                length = _content_length(head)
                if length:
                    await reader.readexactly(length)
                await self._handler(reader, writer, self.requests)
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def answer(status: str, body: bytes = b"", *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[RawServer, str]]:
    state = RawServer(handler)
    server = await asyncio.start_server(state.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield state, f"http://127.0.0.1:{port}/op/?access_token={SECRET}"
    finally:
        server.close()
        await server.wait_closed()


# Servers that misbehave, shared by the httpx client's tests and the plain client's.


async def first_answered_then_dropped(_r: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    """Answers the first request; the second, on the same kept-alive connection, it drops unanswered."""
    if n == 1:
        writer.write(answer("200 OK", b"{}", "Content-Type: application/json"))
        await writer.drain()
    else:
        writer.close()


async def truncated(_r: asyncio.StreamReader, writer: asyncio.StreamWriter, _n: int) -> None:
    """Promises 100 bytes of body, sends 9 and hangs up."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"status\"")
    await writer.drain()
    writer.close()


def silent_until(hang: asyncio.Event) -> Handler:
    """Reads the request and answers nothing until `hang` is set."""

    async def silent(_r: asyncio.StreamReader, _w: asyncio.StreamWriter, _n: int) -> None:
        await hang.wait()

    return silent


@pytest.mark.anyio
async def test_a_get_is_never_resent_when_the_server_drops_a_reused_connection() -> None:
    # A Kaspi `create` is a GET that pushes a bill: resending it after the proxy received it (the
    # server closed the kept-alive connection without answering) could bill the customer twice.
    async with raw_server(first_answered_then_dropped) as (server, url), build_http_client(timeout=5.0) as client:
        assert (await client.get(url)).status_code == 200
        with pytest.raises(httpx.TransportError) as failed:
            await client.get(url)

    assert not isinstance(failed.value, httpx.TimeoutException)
    assert (server.requests, server.connections) == (2, 1)
    assert SECRET not in str(failed.value)


@pytest.mark.anyio
async def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    hang = asyncio.Event()

    async with raw_server(silent_until(hang)) as (server, url), build_http_client(timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout) as timed_out:
            await client.get(url)
        hang.set()

    assert server.requests == 1
    assert SECRET not in str(timed_out.value)


@pytest.mark.anyio
async def test_a_refused_connection_is_a_connect_error() -> None:
    async with raw_server(lambda *_: asyncio.sleep(0)) as (_server, url):
        pass  # closed: nothing listens on its port any more
    async with build_http_client(timeout=5.0) as client:
        with pytest.raises(httpx.ConnectError) as refused:
            await client.get(url)

    assert SECRET not in str(refused.value)


@pytest.mark.anyio
async def test_an_answer_cut_short_is_a_read_error_not_a_timeout() -> None:
    async with raw_server(truncated) as (_server, url), build_http_client(timeout=5.0) as client:
        with pytest.raises(httpx.TransportError) as cut:
            await client.get(url)

    assert not isinstance(cut.value, httpx.TimeoutException)


@pytest.mark.anyio
async def test_redirects_are_answers_not_followed() -> None:
    async def redirect(_r: asyncio.StreamReader, writer: asyncio.StreamWriter, _n: int) -> None:
        writer.write(answer("302 Found", b"", "Location: /elsewhere/"))
        await writer.drain()

    async with raw_server(redirect) as (server, url), build_http_client(timeout=5.0) as client:
        response = await client.get(url)

    assert (response.status_code, response.headers["location"]) == (302, "/elsewhere/")
    assert server.requests == 1


@pytest.mark.anyio
async def test_proxies_from_the_environment_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    async def ok(_r: asyncio.StreamReader, writer: asyncio.StreamWriter, _n: int) -> None:
        writer.write(answer("200 OK", b"{}"))
        await writer.drain()

    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9/")  # the discard port: nothing answers there
    async with raw_server(ok) as (server, url), build_http_client(timeout=5.0) as client:
        assert (await client.get(url)).status_code == 200

    assert server.requests == 1


@pytest.mark.anyio
async def test_bodies_headers_and_compressed_answers_go_through() -> None:
    seen: list[bytes] = []

    async def echo_gzip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _n: int) -> None:
        body = gzip.compress(b'{"status": true, "data": {"externalId": "12800000001"}}')
        writer.write(answer("201 Created", body, "Content-Type: application/json", "Content-Encoding: gzip"))
        await writer.drain()

    async def capture(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head + await reader.readexactly(_content_length(head)))
        await echo_gzip(reader, writer, 1)
        writer.close()

    server = await asyncio.start_server(capture, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with build_http_client(timeout=5.0) as client:
            response = await client.post(
                f"http://127.0.0.1:{port}/v1/payments", json={"amount": 1000}, headers={"Idempotency-Key": "k-1"}
            )
    finally:
        server.close()
        await server.wait_closed()

    assert response.status_code == 201
    assert response.json() == {"status": True, "data": {"externalId": "12800000001"}}
    request = seen[0].lower()
    assert request.startswith(b"post /v1/payments http/1.1")
    assert b"idempotency-key: k-1" in request
    assert request.endswith((b'{"amount":1000}', b'{"amount": 1000}'))


# The plain GET client the Kaspi adapter uses (`PlainHttpClient`): the same promises, its own errors.


@pytest.mark.anyio
async def test_the_plain_client_never_resends_a_get_when_the_server_drops_a_reused_connection() -> None:
    async with raw_server(first_answered_then_dropped) as (server, url), build_plain_http_client() as client:
        assert (await client.get(url, {}, timeout=5.0)).status == 200
        with pytest.raises(PlainHttpFailure) as failed:
            await client.get(url, {}, timeout=5.0)

    assert (server.requests, server.connections) == (2, 1)
    assert SECRET not in str(failed.value)


@pytest.mark.anyio
async def test_the_plain_client_times_out_a_server_that_never_answers() -> None:
    hang = asyncio.Event()

    async with raw_server(silent_until(hang)) as (server, url), build_plain_http_client() as client:
        with pytest.raises(PlainHttpTimeout) as timed_out:
            await client.get(url, {"phone": "77015211545"}, timeout=0.3)
        hang.set()

    assert server.requests == 1
    assert SECRET not in str(timed_out.value)


@pytest.mark.anyio
async def test_the_plain_client_reports_a_refused_connection_and_a_cut_answer_as_failures() -> None:
    async with raw_server(lambda *_: asyncio.sleep(0)) as (_server, url):
        pass  # closed: nothing listens on its port any more

    async with build_plain_http_client() as client:
        with pytest.raises(PlainHttpFailure) as refused:
            await client.get(url, {}, timeout=5.0)
        async with raw_server(truncated) as (_server, cut_url):
            with pytest.raises(PlainHttpFailure) as cut:
                await client.get(cut_url, {}, timeout=5.0)

    assert refused.value.kind == "ConnectError"
    assert SECRET not in str(refused.value) + str(cut.value)


@pytest.mark.anyio
async def test_the_plain_client_returns_redirects_ignores_proxies_and_decodes_gzip(monkeypatch: pytest.MonkeyPatch) -> None:
    async def redirect_then_gzip(_r: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 1:
            writer.write(answer("302 Found", b"", "Location: /elsewhere/"))
        else:
            writer.write(answer("200 OK", gzip.compress(b'{"status": true}'), "Content-Encoding: gzip"))
        await writer.drain()

    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9/")  # the discard port: nothing answers there
    async with raw_server(redirect_then_gzip) as (server, url), build_plain_http_client() as client:
        redirected = await client.get(url, {}, timeout=5.0)
        decoded = await client.get(url, {}, timeout=5.0)

    assert redirected.status == 302
    assert (decoded.status, decoded.body) == (200, b'{"status": true}')
    assert server.requests == 2
