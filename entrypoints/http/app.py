"""The Starlette application, declared as data; the container builds everything it uses."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Mount

from entrypoints import console
from entrypoints.console import api_docs
from entrypoints.http import errors
from entrypoints.http.endpoints import OPERATIONS
from entrypoints.http.observability import RequestObservation
from entrypoints.http.openapi import build_openapi
from entrypoints.http.operations import routes_of
from entrypoints.http.use_cases import UseCases
from entrypoints.provider_report import announce_providers

from config.container import Container, close_resources, open_resources
from config.simulators import simulator_mounts

Background = Callable[[Container, asyncio.Event], Coroutine[Any, Any, None]]
# Objects allocated between collections of the youngest generation (Python's default is 700).
YOUNG_GENERATION = 20_000


def _cors(origins: tuple[str, ...]) -> list[Middleware]:
    """Browsers from `origins` may call the API; with none configured, no layer is paid for on
    every request (a browser's preflight then meets 405, and its cross-origin reads stay blocked)."""
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            # A browser client may read how long to wait after a 429, and whether an answer was replayed.
            expose_headers=["X-Request-ID", "Retry-After", "Idempotent-Replayed"],
        )
    ]


def create_app(container: Container, *, background: Background | None = None) -> Starlette:
    """The API; `background` (the poller and dispatcher of `paygate run`) runs beside it in the
    same process, from start-up until shutdown, when its `stop` event is set and it is awaited."""
    settings = container.settings()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await open_resources(container)
        stop = asyncio.Event()
        worker: asyncio.Task[None] | None = None
        try:
            await container.startup_check()()
            await announce_providers(container)
            # What start-up built lives as long as the process: out of the collector's sight, full
            # collections no longer walk it on every request's garbage. And a young generation of
            # 20,000 objects rather than 700: a request's objects die by reference count long
            # before that, where at 700 the in-flight requests' objects (hundreds of requests under
            # load) were promoted and walked over and over (figures in docs/performance.md).
            gc.freeze()
            gc.set_threshold(YOUNG_GENERATION, *gc.get_threshold()[1:])
            if background is not None:
                worker = asyncio.create_task(background(container, stop))
            yield
        finally:
            stop.set()
            if worker is not None:
                await worker
            await close_resources(container)

    routes: list[BaseRoute] = [
        *routes_of(OPERATIONS),
        Mount("/console", routes=console.routes),
        *api_docs.routes,
    ]
    routes += simulator_mounts(settings, container.simulators())
    app = Starlette(
        debug=False,
        routes=routes,
        middleware=[
            # Outermost: times everything, and gives every answer (CORS refusals, 500s) a request id.
            Middleware(RequestObservation, metrics=container.metrics(), routes=routes),
            *_cors(settings.cors_origins),
        ],
        exception_handlers={kind: errors.handle for kind in errors.HANDLED} | {Exception: errors.handle},
        lifespan=lifespan,
    )
    # Routes and console pages reach the core only through the typed bundle (`use_cases(request)`).
    app.state.use_cases = UseCases(container)
    app.state.openapi = build_openapi()
    return app
