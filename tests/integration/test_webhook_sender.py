"""Webhooks over real HTTP: what a receiver gets, and how each kind of failure is reported."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import anyio
import attrs
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.events import Event, EventType
from domain.webhook_targets import WebhookTargetRules

from application.ports import HostResolver
from application.webhook_targets import WebhookTargets

from adapters.notifications.targets import PinnedResolver, SystemHostResolver
from adapters.notifications.webhooks import HttpWebhookSender
from adapters.notifications.wire import event_body, verify_signature
from adapters.providers.http_client import build_http_client

from tests.fakes.notifications import StaticHostResolver
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
    location: str = "https://elsewhere.example/"
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
            headers = {"Location": self.location} if 300 <= self.status < 400 else None
            return Response(b"x" * 1000, self.status, headers=headers)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()
    with serve(state.app()) as base_url:
        yield state, f"{base_url}/hook?token=crm-side-token"


# The receivers of these tests listen on 127.0.0.1: allowed explicitly, as the demo allows them.
ALLOW_LOOPBACK = WebhookTargetRules(
    allow_http=True, allowed_networks=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
)


@asynccontextmanager
async def webhook_sender(
    rules: WebhookTargetRules = ALLOW_LOOPBACK, resolver: HostResolver | None = None
) -> AsyncIterator[HttpWebhookSender]:
    """A sender wired as the container wires it: checked targets, connections pinned to them."""
    client = build_http_client(timeout=5, resolver=PinnedResolver())
    targets = WebhookTargets(rules=rules, resolver=resolver or SystemHostResolver(timeout=2))
    try:
        yield HttpWebhookSender(client=client, targets=targets, timeout=0.5)
    finally:
        await client.aclose()


@pytest.fixture
async def sender() -> AsyncIterator[HttpWebhookSender]:
    async with webhook_sender() as sender:
        yield sender


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


@pytest.mark.parametrize("status", [301, 302, 307, 308, 400, 410, 500, 503])
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


async def test_a_redirect_to_an_allowed_address_is_not_followed_either(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    other = Receiver()
    with serve(other.app()) as elsewhere:
        state.status, state.location = 302, f"{elsewhere}/hook"
        async with webhook_sender() as sender:
            result = await sender.send(url, SECRET, EVENT, at=AT)

    assert (result.delivered, result.status_code, result.blocked) == (False, 302, False)
    assert len(state.received) == 1 and other.received == []


@pytest.mark.parametrize(
    "spelling",
    ["127.0.0.1", "0x7f000001", "2130706433", "127.1", "[::ffff:127.0.0.1]", "localhost"],
)
async def test_a_loopback_target_is_blocked_without_a_connection_unless_allowed(
    receiver: tuple[Receiver, str], spelling: str
) -> None:
    state, url = receiver
    port = url.split(":")[2].split("/")[0]
    target = f"http://{spelling}:{port}/hook"

    async with webhook_sender(WebhookTargetRules(allow_http=True)) as sender:
        result = await sender.send(target, SECRET, EVENT, at=AT)

    assert (result.delivered, result.blocked, result.status_code) == (False, True, None)
    assert result.error is not None and result.error.startswith("blocked: ") and "loopback" in result.error
    assert state.received == []  # never contacted


async def test_a_name_is_resolved_once_and_the_connection_goes_to_the_address_checked(
    receiver: tuple[Receiver, str],
) -> None:
    state, url = receiver
    port = url.split(":")[2].split("/")[0]
    # No DNS server knows this name: the request can reach the receiver only through the checked address.
    dns = StaticHostResolver({"crm.paygate-test": ["127.0.0.1"]})

    async with webhook_sender(resolver=dns) as sender:
        result = await sender.send(f"http://crm.paygate-test:{port}/hook", SECRET, EVENT, at=AT)

    assert (result.delivered, result.status_code) == (True, 200)
    assert dns.asked == ["crm.paygate-test"]
    [(headers, _)] = state.received
    assert headers["host"] == f"crm.paygate-test:{port}"  # the name, not the address, as for TLS's SNI


async def test_a_name_resolving_to_a_private_address_is_blocked(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    port = url.split(":")[2].split("/")[0]
    dns = StaticHostResolver({"crm.paygate-test": ["10.20.30.40"]})

    async with webhook_sender(resolver=dns) as sender:
        result = await sender.send(f"http://crm.paygate-test:{port}/hook", SECRET, EVENT, at=AT)

    assert result.blocked and result.error == (
        "blocked: crm.paygate-test resolves to a private address, outside WEBHOOK_ALLOWED_NETWORKS"
    )
    assert state.received == []


async def test_http_is_blocked_unless_allowed(receiver: tuple[Receiver, str]) -> None:
    state, url = receiver
    rules = WebhookTargetRules(allowed_networks=ALLOW_LOOPBACK.allowed_networks)

    async with webhook_sender(rules) as sender:
        result = await sender.send(url, SECRET, EVENT, at=AT)

    assert result.blocked and "WEBHOOK_ALLOW_HTTP" in (result.error or "")
    assert state.received == []


async def test_the_client_never_connects_to_an_address_it_was_not_given() -> None:
    client = build_http_client(timeout=2, resolver=PinnedResolver())
    try:
        with pytest.raises(httpx.ConnectError):
            await client.post("http://localhost:9/hook", content=b"{}")
    finally:
        await client.aclose()
