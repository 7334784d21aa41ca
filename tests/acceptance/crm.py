"""The marketplace's CRM and Paygate's poller as the acceptance scenarios drive them.

The CRM is a small Starlette receiver on 127.0.0.1 that checks every signature the way the README
tells integrators to; the poller runs one round on demand, on a clock the scenario moves forward
(hours pass in a scenario without anybody waiting for them).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

from dependency_injector import providers
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from entrypoints.poller import poll_round

from config.container import build_container, close_resources, open_resources
from config.settings import Settings

from tests.support.servers import free_port, serve

TOLERANCE_SECONDS = 300


class ScenarioClock:
    """Real time plus however long the scenario said has passed."""

    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        self._offset += delta


def signature_is_valid(secret: str, header: str, body: bytes, now: float) -> bool:
    """What the README shows a receiver doing, written out here independently of Paygate's own code."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    timestamp = parts.get("t", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


class CrmReceiver:
    """The CRM's endpoint: accepts only correctly signed notifications, and can be taken down and back."""

    def __init__(self, clock: ScenarioClock) -> None:
        self.port = free_port()
        self.secret: str | None = None
        self.notifications: list[dict[str, Any]] = []
        self.forged = 0
        self._clock = clock
        self._lock = threading.Lock()
        self._running = ExitStack()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/paygate/events"

    def start(self) -> None:
        self._running.enter_context(serve(self._app(), port=self.port))

    def stop(self) -> None:
        self._running.close()

    def of_payment(self, external_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [n for n in self.notifications if n["data"]["payment"]["external_id"] == external_id]

    def _app(self) -> Starlette:
        async def receive(request: Request) -> Response:
            body = await request.body()
            header = request.headers.get("paygate-signature", "")
            assert self.secret is not None
            if not signature_is_valid(self.secret, header, body, self._clock.now().timestamp()):
                with self._lock:
                    self.forged += 1
                return Response(status_code=401)
            event = json.loads(body)
            assert request.headers["paygate-event-id"] == event["id"]
            with self._lock:
                self.notifications.append(event)
            return Response(status_code=204)

        return Starlette(routes=[Route("/paygate/events", receive, methods=["POST"])])


class PaygatePoller:
    """`paygate poll --once` on the gateway's database, on the scenario's clock."""

    def __init__(self, settings: Settings, clock: ScenarioClock) -> None:
        self._settings = settings
        self._clock = clock

    def poll_once(self) -> dict[str, Any]:
        async def run() -> dict[str, Any]:
            container = build_container(self._settings)
            container.clock.override(providers.Object(self._clock))
            await open_resources(container)
            try:
                return await poll_round(container)
            finally:
                await close_resources(container)

        return asyncio.run(run())
