"""A scriptable webhook sender and broker publisher, and a throttle that counts: they record what they were given."""

from __future__ import annotations

import ipaddress
from collections import deque
from datetime import datetime

import attrs

from domain.events import Event
from domain.webhook_targets import IPAddress

from application.errors import HostUnresolvable, PublishFailed
from application.ports import DeliveryResult

DELIVERED = DeliveryResult(True, 5, status_code=200)


@attrs.frozen
class SentWebhook:
    url: str
    secret: str
    event: Event
    at: datetime


class RecordingWebhookSender:
    """Answers with the next scripted result, or `DELIVERED` when none is left (a receiver that works)."""

    def __init__(self) -> None:
        self.sent: list[SentWebhook] = []
        self._results: deque[DeliveryResult] = deque()

    def will_answer(self, *results: DeliveryResult) -> None:
        self._results.extend(results)

    async def send(self, url: str, secret: str, event: Event, *, at: datetime) -> DeliveryResult:
        self.sent.append(SentWebhook(url, secret, event, at))
        return self._results.popleft() if self._results else DELIVERED


class RecordingPublisher:
    """Confirms every event unless told to fail the next few."""

    def __init__(self) -> None:
        self.published: list[Event] = []
        self.failures_left = 0

    async def publish(self, event: Event) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise PublishFailed("broker down")
        self.published.append(event)


class CountingThrottle:
    """Lets every call through at once, counting them."""

    def __init__(self) -> None:
        self.turns = 0

    async def wait_turn(self) -> None:
        self.turns += 1


class StaticHostResolver:
    """DNS as a test declares it: each name's addresses; a name it was not told of does not resolve."""

    def __init__(self, answers: dict[str, list[str]] | None = None) -> None:
        self.answers = dict(answers or {})
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append(host)
        if host not in self.answers:
            raise HostUnresolvable(f"{host}: no such name")
        return [ipaddress.ip_address(a) for a in self.answers[host]]
