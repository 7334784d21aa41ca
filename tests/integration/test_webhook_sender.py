"""Webhooks over real HTTP: what a receiver gets, and how each kind of failure is reported."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import anyio
import attrs
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.notifications.webhooks import HttpWebhookSender
from adapters.notifications.wire import event_body, verify_signature
from adapters.providers.http_client import build_http_client
from domain.events import Event, EventType
from tests.support.servers import free_port, serve

pytestmark = pytest.mark.anyio

SECRET = "whsec_receiver-test"
AT = datetime(2025, 10, 22, 12, 0, tzinfo=UTC)
EVENT = Event(
    id="evt_01JD0000000000000000000000",
    type=EventType.PAYMENT_SUCCEEDED,
    payment_id="pay_01",
    occurred_at=AT,
    data={"payment": {"id": "pay_01", "status": "succeeded", "amount": 500000}},
    sequence=2,
)


@attrs.define
class Receiver:
    """A CRM endpoint that records what it is sent and answers as told."""

    status: int = 200
    hang: bool = False
    received: list[tuple[dict[str, str], bytes]] = attrs.field(factory=list)
    lock: threading.Lock = attrs.field(factory=threading.Lock)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.received.append((dict(request.headers), body))
            if self.hang:
                with anyio.move_on_after(10):  # until the sender gives up and hangs up
                    while (await request.receive())["type"] != "http.disconnect":
                        pass
            headers = {"Location": "https://elsewhere.example/"} if 300 <= self.status < 400 else None
            return Response(b"x" * 1000, self.status, headers=headers)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()
    with serve(state.app()) as base_url:
        yield state, f"{base_url}/hook?token=crm-side-token"


@pytest.fixture
async def sender() -> AsyncIterator[HttpWebhookSender]:
    client = build_http_client(timeout=5)
    try:
        yield HttpWebhookSender(client=client, timeout=0.5)
    finally:
        await client.aclose()


async def test_a_receiver_gets_the_event_signed_and_answers_2xx(
    receiver: tuple[Receiver, str], sender: HttpWebhookSender
) -> None:
    state, url = receiver
    state.status = 204

    result = await sender.send(url, SECRET, EVENT, at=AT)

    assert (result.delivered, result.status_code, result.error) == (True, 204, None)
    [(headers, body)] = state.received
    assert body == event_body(EVENT)
    assert headers["content-type"] == "application/json"
    assert headers["paygate-event-id"] == EVENT.id
    assert headers["paygate-event-type"] == "payment.succeeded"
    assert headers["paygate-signature"].startswith(f"t={int(AT.timestamp())},v1=")
    assert verify_signature(SECRET, headers["paygate-signature"], body, now=int(AT.timestamp()))
    assert SECRET not in str(headers)


@pytest.mark.parametrize("status", [301, 400, 410, 500, 503])
async def test_anything_but_2xx_is_a_failed_attempt_and_redirects_are_not_followed(
    receiver: tuple[Receiver, str], sender: HttpWebhookSender, status: int
) -> None:
    state, url = receiver
    state.status = status

    result = await sender.send(url, SECRET, EVENT, at=AT)

    assert (result.delivered, result.status_code, result.error) == (False, status, f"HTTP {status}")
    assert len(state.received) == 1


async def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt(
    receiver: tuple[Receiver, str], sender: HttpWebhookSender
) -> None:
    state, url = receiver
    state.hang = True

    started = time.monotonic()
    result = await sender.send(url, SECRET, EVENT, at=AT)

    assert (result.delivered, result.status_code, result.error) == (False, None, "no answer within 0.5 s")
    assert time.monotonic() - started < 5


async def test_a_receiver_that_is_down_is_a_failed_attempt_naming_only_the_error_type(
    sender: HttpWebhookSender,
) -> None:
    result = await sender.send(f"http://127.0.0.1:{free_port()}/hook?token=crm-side-token", SECRET, EVENT, at=AT)

    assert (result.delivered, result.status_code, result.error) == (False, None, "ConnectError")
