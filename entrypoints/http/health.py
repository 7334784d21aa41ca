"""Liveness and readiness, open to load balancers without a key."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from entrypoints.http.responses import JsonResponse


async def health(request: Request) -> Response:
    clock = request.app.state.container.clock()
    return JsonResponse({"status": "healthy", "timestamp": clock.now().isoformat()})


async def ready(request: Request) -> Response:
    container = request.app.state.container
    database = await container.database_probe().check()
    healthy = database["status"] == "up"
    return JsonResponse(
        {
            "status": "healthy" if healthy else "unhealthy",
            "services": {"database": database},
            "timestamp": container.clock().now().isoformat(),
        },
        status_code=200 if healthy else 503,
    )


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
]
