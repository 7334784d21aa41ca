"""Fixtures that serve ASGI apps over real HTTP on 127.0.0.1."""

from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from adapters.redaction import protect_http_server_loggers

from simulators.kaspi import KaspiSimulatorState, create_kaspi_simulator

HOST = "127.0.0.1"
# Where the gateway mounts the simulator; the fixture mounts it the same way.
KASPI_SANDBOX_PREFIX = "/sandbox/kaspi"
KASPI_PROXY_PATH = "/api/v2/paymentkaspi"


class _SignallingServer(uvicorn.Server):
    """A uvicorn server that tells a waiting thread when its startup is over, however it ended."""

    def __init__(self, config: uvicorn.Config, startup_over: threading.Event) -> None:
        super().__init__(config)
        self._startup_over = startup_over

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self._startup_over.set()


def free_port() -> int:
    """A port of 127.0.0.1 free right now, for an app that must know its own port before it starts.

    Prefer `serve(app)` without a port where possible: it keeps the port bound from the start.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve(
    app: ASGIApp,
    *,
    port: int | None = None,
    startup_timeout: float = 10.0,
    graceful_shutdown: int = 1,
    shutdown_timeout: float = 10.0,
    http: Any = "auto",
) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 in a background thread; yield its base URL.

    Without `port` a free one is taken. `http` is uvicorn's protocol (the gateway's own: see
    `running_gateway`). The server runs its own event loop; the call returns once
    uvicorn says it started, and leaving the block shuts it down.
    """
    # Binding here, not in uvicorn, gives the port before the thread starts and leaves no race for it.
    # IPPROTO_TCP must be explicit: asyncio sets TCP_NODELAY only on sockets that name it, and
    # without it every response waits ~40 ms on Nagle's algorithm.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((HOST, port or 0))
    except OSError:
        listener.close()
        raise
    port = int(listener.getsockname()[1])
    config = uvicorn.Config(
        app,
        loop="asyncio",
        http=http,
        lifespan="auto",
        log_config=None,  # leave the process's logging configuration alone
        access_log=False,  # access lines carry query strings, and Kaspi proxy queries carry tokens
        # As `paygate serve` runs: the app alone decides whose X-Forwarded-For to believe.
        proxy_headers=False,
        # A request still running `graceful_shutdown` seconds into teardown is cancelled, not awaited.
        timeout_graceful_shutdown=graceful_shutdown,
    )
    # access_log=False is not enough: uvicorn still logs access lines when a handler (pytest's
    # capture handler, for one) sits on the access logger itself.
    protect_http_server_loggers()
    startup_over = threading.Event()
    server = _SignallingServer(config, startup_over)

    def run() -> None:
        try:
            server.run(sockets=[listener])
        finally:
            startup_over.set()  # a failure before startup must not leave the caller waiting

    thread = threading.Thread(target=run, name=f"asgi-server-{port}", daemon=True)
    thread.start()
    try:
        if not startup_over.wait(startup_timeout) or not server.started:
            raise RuntimeError(f"the ASGI server on port {port} did not start")
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(shutdown_timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(shutdown_timeout)
        listener.close()


@attrs.frozen
class KaspiSimulatorServer:
    """A running Kaspi proxy simulator: where the adapter points, where tests steer it, its state."""

    base_url: str  # the proxy base, `.../api/v2/paymentkaspi`
    control_url: str  # the simulator's root: `/payments/...`, `/knobs`, `/reset`
    state: KaspiSimulatorState
    access_token: str = attrs.field(repr=False)


@contextmanager
def run_kaspi_simulator(
    *, access_token: str | None = None, state: KaspiSimulatorState | None = None
) -> Iterator[KaspiSimulatorServer]:
    """Serve the simulator mounted at `/sandbox/kaspi`, as the gateway mounts it."""
    token = access_token or f"sim-{secrets.token_urlsafe(24)}"
    state = state if state is not None else KaspiSimulatorState()
    app = Starlette(routes=[Mount(KASPI_SANDBOX_PREFIX, app=create_kaspi_simulator(access_token=token, state=state))])
    with serve(app) as root:
        control_url = f"{root}{KASPI_SANDBOX_PREFIX}"
        yield KaspiSimulatorServer(
            base_url=f"{control_url}{KASPI_PROXY_PATH}", control_url=control_url, state=state, access_token=token
        )


@pytest.fixture
def kaspi_simulator() -> Iterator[KaspiSimulatorServer]:
    """A fresh simulator per test, mounted like the gateway mounts it, with a random access token."""
    with run_kaspi_simulator() as simulator:
        yield simulator
