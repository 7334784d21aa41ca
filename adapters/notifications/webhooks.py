"""Outgoing webhooks over HTTP: one signed POST per attempt, on the container's shared client."""

from __future__ import annotations

import time
from datetime import datetime

import httpx

from domain.events import Event
from domain.webhook_targets import WebhookTargetRefused

from application.errors import HostUnresolvable
from application.ports import DeliveryResult
from application.webhook_targets import WebhookTargets

from adapters.notifications.targets import connect_only_to
from adapters.notifications.wire import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    event_body,
    signature_header,
)
from adapters.redaction import protect_http_client_loggers

USER_AGENT = "Paygate-Webhooks/1"


class HttpWebhookSender:
    """2xx delivers; any other answer, a timeout or a connection error is a failed attempt, never raised.

    Redirects are not followed (the client is built without them): a receiver that moved must be
    re-registered, rather than have signed events follow a Location header anywhere.
    Before each request the URL is checked (`WebhookTargets`, DNS included) and the request connects
    only to the addresses checked: the client must be built with `PinnedResolver`. A target the
    rules refuse is never contacted: the result is `blocked`.
    """

    def __init__(self, *, client: httpx.AsyncClient, targets: WebhookTargets, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._client = client
        self._targets = targets
        self._timeout = timeout
        # A receiver's URL may carry its own token in the query string.
        protect_http_client_loggers()

    async def send(self, url: str, secret: str, event: Event, *, at: datetime) -> DeliveryResult:
        body = event_body(event)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: event.id,
            EVENT_TYPE_HEADER: event.type.value,
            SIGNATURE_HEADER: signature_header(secret, int(at.timestamp()), body),
        }
        started = time.perf_counter()
        try:
            addresses = await self._targets.check(url)
        except WebhookTargetRefused as refused:
            return DeliveryResult(False, _since(started), error=f"blocked: {refused}", blocked=True)
        except HostUnresolvable as unresolvable:
            return DeliveryResult(False, _since(started), error=str(unresolvable))
        try:
            with connect_only_to(addresses):
                answer = await self._client.post(url, content=body, headers=headers, timeout=self._timeout)
        except httpx.TimeoutException:
            return DeliveryResult(False, _since(started), error=f"no answer within {self._timeout:g} s")
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            # The type only: httpx puts the URL, which may hold a token, into some messages.
            return DeliveryResult(False, _since(started), error=type(error).__name__)
        # Only the status counts: the receiver's answer body is never looked at, nor kept.
        status = answer.status_code
        if 200 <= status < 300:
            return DeliveryResult(True, _since(started), status_code=status)
        return DeliveryResult(False, _since(started), status_code=status, error=f"HTTP {status}")


def _since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
