"""Slow and oversized requests cut off, on uvicorn's httptools protocol (its fast C parser kept).

uvicorn bounds only the idle time between requests (`timeout_keep_alive`): a client that connects
and then sends its headers or its body a byte at a time holds a connection, and a task, for as
long as it likes, and httptools accepts headers of any size. This protocol adds three limits:

- the headers of a request must be complete within `header_timeout` seconds, counted from the
  connection (first request) or from the request's first byte (later ones, after keep-alive);
- its body within `body_timeout` seconds of its headers;
- its request line and headers must fit in `max_header_bytes`.

Past a deadline the answer is 408 (when a request had begun and no response has started), past
the size 431, and the connection is closed. A connection that never sent a byte is just closed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any

import attrs
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from config.settings import Settings

logger = logging.getLogger("paygate.http")


@attrs.frozen
class ClientLimits:
    header_timeout: float
    body_timeout: float
    max_header_bytes: int


def limited_http_protocol(settings: Settings) -> Callable[..., asyncio.Protocol]:
    """For uvicorn's `http` option (it builds one protocol per connection): the configured limits."""
    limits = ClientLimits(
        header_timeout=settings.http_header_timeout_seconds,
        body_timeout=settings.http_body_timeout_seconds,
        max_header_bytes=settings.http_max_header_bytes,
    )
    return functools.partial(LimitedHttpToolsProtocol, limits=limits)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, limits: ClientLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits
        # The current phase's deadline (loop time) and what happens at it. The timer is armed only
        # when a read ends with the phase unfinished: a request that arrives whole costs no timer.
        self._due: float | None = None
        self._on_due: Callable[[], None] = self._headers_too_slow
        self._deadline: asyncio.TimerHandle | None = None
        self._reading_headers = True  # until a request's headers are complete
        self._header_bytes = 0  # received while reading headers (the request line included)
        self._cut_off = False

    # --- Connection ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn narrows it
        super().connection_made(transport)
        self._expect(self._limits.header_timeout, self._headers_too_slow)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._cut_off:
            return
        if self._reading_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        # Checked after parsing, so that a chunk holding small headers and a body is not counted as headers.
        if self._reading_headers and self._header_bytes > self._limits.max_header_bytes:
            self._cut(431, "Request header fields too large")
        elif self._deadline is None and self._due is not None and not self._cut_off:
            self._arm()

    # --- Parser callbacks ------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._due is None:  # a later request on a kept-alive connection: due from its first byte
            self._expect(self._limits.header_timeout, self._headers_too_slow)

    def on_headers_complete(self) -> None:
        if self._cut_off:
            return
        # The same chunk may have carried oversized headers to completion: measure what was parsed.
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self._limits.max_header_bytes:
            self._cut(431, "Request header fields too large")
            return
        self._reading_headers = False
        self._disarm()
        self._expect(self._limits.body_timeout, self._body_too_slow)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._cut_off:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._cut_off:
            return
        self._disarm()
        self._reading_headers = True
        self._header_bytes = 0
        super().on_message_complete()

    # --- Deadlines -------------------------------------------------------------------------------

    def _expect(self, seconds: float, expired: Callable[[], None]) -> None:
        self._due = self.loop.time() + seconds
        self._on_due = expired

    def _arm(self) -> None:
        assert self._due is not None
        self._deadline = self.loop.call_at(self._due, self._on_due)

    def _disarm(self) -> None:
        self._due = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_too_slow(self) -> None:
        self._deadline = self._due = None
        if self._header_bytes == 0:
            self._close()  # nothing was asked: no answer is owed
        else:
            self._cut(408, "Request headers not received in time")

    def _body_too_slow(self) -> None:
        self._deadline = self._due = None
        self._cut(408, "Request body not received in time")

    def _cut(self, status: int, message: str) -> None:
        if self._cut_off or self.transport.is_closing():
            return
        self._cut_off = True
        client = "{}:{}".format(*self.client) if self.client else "unknown"
        logger.info("http: %s from %s; connection closed", message.lower(), client)
        cycle = self.cycle  # the request being read, or (while reading headers) the one before
        if cycle is not None and not cycle.response_complete:
            # A request still being served ends as a disconnect; whatever it sends is dropped. Only
            # its own late body may be answered, and only if its response has not begun.
            answer = not self._reading_headers and not cycle.response_started
            cycle.disconnected = True
            cycle.message_event.set()
        else:
            # Already answered while its body still trickles in: a second answer would be unasked for.
            answer = self._reading_headers
        if not answer:
            self._close()
            return
        body = message.encode("ascii")
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: %d\r\n" % len(body),
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self._close()

    def _close(self) -> None:
        self._cut_off = True
        self._disarm()
        if not self.transport.is_closing():
            self.transport.close()
