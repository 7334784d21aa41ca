"""The Starlette application, declared as data; the container builds everything it uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from config.container import Container, close_resources, open_resources
from entrypoints.http import admin_routes, errors, health, kaspi_routes
from entrypoints.http.openapi import build_openapi
from entrypoints.http.responses import JsonResponse


async def openapi(request: Request) -> Response:
    return JsonResponse(request.app.state.openapi)


def create_app(container: Container) -> Starlette:
    settings = container.settings()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await open_resources(container)
        try:
            await container.startup_check()()
            yield
        finally:
            await close_resources(container)

    routes: list[BaseRoute] = [
        *health.routes,
        Route("/openapi.json", openapi, methods=["GET"]),
        *kaspi_routes.routes,
        *admin_routes.routes,
    ]
    if settings.kaspi_simulated:
        routes.append(Mount("/sandbox/kaspi", app=container.kaspi_simulator()))
    app = Starlette(
        debug=False,
        routes=routes,
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            )
        ],
        exception_handlers={kind: errors.handle for kind in errors.HANDLED} | {Exception: errors.handle},
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.openapi = build_openapi()
    return app
