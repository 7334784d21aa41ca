"""Slow and oversized requests against the real served gateway, over real sockets on 127.0.0.1.

Every wait is a socket read with a timeout: a test learns that the server answered or hung up by
reading, never by sleeping. Deadlines are short here (HTTP_HEADER_TIMEOUT_SECONDS and
HTTP_BODY_TIMEOUT_SECONDS of one second); the margin allows for a loaded machine.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from config.settings import Settings

from tests.support.gateways import gateway_settings, prepare, running_gateway

DEADLINE = 1.0
MARGIN = 2.0
# Each slow client sends one more byte whenever this long passes without the server closing.
TRICKLE = 0.1


def _settings(directory: Path, **changes: object) -> Settings:
    settings = gateway_settings(f"sqlite+aiosqlite:///{directory / 'paygate.db'}", **changes)
    prepare(settings)
    return settings


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    settings = _settings(
        tmp_path_factory.mktemp("slow"), http_header_timeout_seconds=DEADLINE, http_body_timeout_seconds=DEADLINE
    )
    with running_gateway(settings) as gateway:
        url = urlsplit(gateway.base_url)
        yield url.hostname or "", url.port or 0


def _connect(address: tuple[str, int], first: bytes = b"") -> socket.socket:
    connection = socket.create_connection(address, timeout=5)
    if first:
        connection.sendall(first)
    return connection


def _read_until_closed(connection: socket.socket, *, within: float, trickle: bytes = b"") -> tuple[bytes, float]:
    """Everything the server sends until it closes, sending `trickle` a byte per TRICKLE meanwhile.

    Returns what was read and when the connection closed (monotonic); fails if it stays open `within` seconds.
    """
    received = b""
    give_up = time.monotonic() + within
    pending = iter(trickle)
    while (left := give_up - time.monotonic()) > 0:
        connection.settimeout(min(left, TRICKLE) if trickle else left)
        try:
            chunk = connection.recv(65536)
        except TimeoutError:
            byte = next(pending, None)
            if byte is not None:
                try:
                    connection.send(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    return received, time.monotonic()
            continue
        except ConnectionResetError:
            return received, time.monotonic()
        if not chunk:
            return received, time.monotonic()
        received += chunk
    pytest.fail(f"the connection was still open after {within} s")


def _response(connection: socket.socket) -> bytes:
    """One whole response (its headers and its Content-Length of body), read with a timeout."""
    connection.settimeout(5)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        assert chunk, f"closed mid-response: {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = connection.recv(65536)
        assert chunk, f"closed mid-response: {received!r}"
        body += chunk
    return head + b"\r\n\r\n" + body


def test_fifty_connections_sending_partial_headers_are_cut_off_at_the_deadline(address: tuple[str, int]) -> None:
    started = time.monotonic()
    connections = [
        _connect(address, b"GET /health HTTP/1.1\r\nHost: paygate\r\nX-Slow: ") for _ in range(50)
    ]
    try:
        outcomes = [
            _read_until_closed(c, within=DEADLINE + MARGIN, trickle=b"a" * 1000) for c in connections
        ]
    finally:
        for connection in connections:
            connection.close()

    for received, closed_at in outcomes:
        assert DEADLINE - 0.1 <= closed_at - started <= DEADLINE + MARGIN
        assert received.startswith(b"HTTP/1.1 408 ")


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(address: tuple[str, int]) -> None:
    connection = _connect(address)
    started = time.monotonic()
    try:
        received, closed_at = _read_until_closed(connection, within=DEADLINE + MARGIN)
    finally:
        connection.close()

    assert received == b""
    assert DEADLINE - 0.1 <= closed_at - started <= DEADLINE + MARGIN


def test_twenty_bodies_trickled_to_an_unauthenticated_webhook_endpoint_are_cut_off(address: tuple[str, int]) -> None:
    head = (
        b"POST /webhooks/cloudpayments/pay HTTP/1.1\r\nHost: paygate\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000\r\n\r\nInvoiceId="
    )
    connections = [_connect(address, head) for _ in range(20)]
    started = time.monotonic()
    try:
        outcomes = [_read_until_closed(c, within=DEADLINE + MARGIN, trickle=b"1" * 4000) for c in connections]
    finally:
        for connection in connections:
            connection.close()

    for received, closed_at in outcomes:
        assert closed_at - started <= DEADLINE + MARGIN
        assert received.startswith(b"HTTP/1.1 408 ")


def test_a_body_still_trickling_after_its_answer_is_cut_off_without_a_second_answer(address: tuple[str, int]) -> None:
    # An unknown path is answered at once, before its body arrives.
    head = b"POST /nowhere HTTP/1.1\r\nHost: paygate\r\nContent-Length: 5000\r\n\r\n"
    connection = _connect(address, head)
    started = time.monotonic()
    try:
        received, closed_at = _read_until_closed(connection, within=DEADLINE + MARGIN, trickle=b"1" * 4000)
    finally:
        connection.close()

    assert closed_at - started <= DEADLINE + MARGIN
    assert received.startswith(b"HTTP/1.1 404 ") and b"HTTP/1.1 408" not in received


def test_a_kept_alive_connection_may_idle_past_the_header_deadline_and_is_then_held_to_it_again(
    address: tuple[str, int],
) -> None:
    request = b"GET /health HTTP/1.1\r\nHost: paygate\r\n\r\n"
    connection = _connect(address, request)
    try:
        assert _response(connection).startswith(b"HTTP/1.1 200 ")
        # Idle between requests longer than the header deadline: uvicorn's keep-alive (5 s) governs that.
        connection.settimeout(DEADLINE * 2)
        with pytest.raises(TimeoutError):
            connection.recv(65536)
        connection.sendall(request)
        assert _response(connection).startswith(b"HTTP/1.1 200 ")
        # A next request that stalls in its headers meets the deadline, counted from its first byte.
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: pay")
        started = time.monotonic()
        received, closed_at = _read_until_closed(connection, within=DEADLINE + MARGIN)
    finally:
        connection.close()

    assert received.startswith(b"HTTP/1.1 408 ")
    assert DEADLINE - 0.1 <= closed_at - started <= DEADLINE + MARGIN


def test_a_request_sent_in_pieces_within_the_deadlines_is_served(address: tuple[str, int]) -> None:
    body = b'{"x": 1}'
    request = (
        b"POST /webhooks/cloudpayments/check HTTP/1.1\r\nHost: paygate\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    connection = _connect(address)
    try:
        for piece in (request[:10], request[10:-3], request[-3:]):
            connection.sendall(piece)
        answer = _response(connection)
    finally:
        connection.close()

    assert answer.startswith(b"HTTP/1.1 ") and not answer.startswith((b"HTTP/1.1 408", b"HTTP/1.1 431"))


@pytest.fixture(scope="module")
def default_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A gateway with the default limits: ten-second deadlines, 16 KiB of headers."""
    with running_gateway(_settings(tmp_path_factory.mktemp("big"))) as gateway:
        url = urlsplit(gateway.base_url)
        yield url.hostname or "", url.port or 0


def test_a_five_megabyte_header_is_refused_long_before_it_is_all_sent(default_address: tuple[str, int]) -> None:
    connection = _connect(default_address)
    started = time.monotonic()
    try:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the server hung up mid-send: wanted
            connection.sendall(b"GET /health HTTP/1.1\r\nHost: paygate\r\nX-Big: " + b"a" * (5 * 1024 * 1024))
        received, closed_at = _read_until_closed(connection, within=MARGIN)
    finally:
        connection.close()

    assert closed_at - started <= MARGIN  # the size limit, not the ten-second deadline
    # The answer may be lost to a reset (the server closes with our bytes unread); when it arrives, it is 431.
    assert received == b"" or received.startswith(b"HTTP/1.1 431 ")


@pytest.mark.parametrize("size", [15 * 1024, 17 * 1024])
def test_headers_are_measured_even_when_they_arrive_whole(default_address: tuple[str, int], size: int) -> None:
    header = b"X-Big: " + b"a" * (size - 100)
    connection = _connect(default_address, b"GET /health HTTP/1.1\r\nHost: paygate\r\n" + header + b"\r\n\r\n")
    try:
        answer = _response(connection)
    finally:
        connection.close()

    assert answer.startswith(b"HTTP/1.1 200 " if size < 16 * 1024 else b"HTTP/1.1 431 ")
