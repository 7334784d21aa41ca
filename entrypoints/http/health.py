"""What load balancers and Prometheus ask, open without a key: liveness, readiness, metrics.

None of them carries a secret, a shop or an amount; `/metrics` labels are route templates,
methods, statuses, providers and operations only.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.metrics import CONTENT_TYPE
from adapters.providers.instrumented import LastCall

from entrypoints.http.responses import JsonResponse
from entrypoints.provider_report import missing_providers, mode_names

# A probe answers within its own timeout even when the database hangs (a blackholed host).
LIVENESS_BUDGET_SECONDS = 1.0
READINESS_BUDGET_SECONDS = 3.0
# What readiness needs; how providers answer is reported but never takes a replica out of the load
# balancer (every replica shares the same provider, and status reads and refunds of stored data
# still work). A provider missing from the configuration does (`routed_providers`).
REQUIRED = ("database", "migrations")


async def _services(request: Request, budget: float) -> dict[str, dict[str, Any]]:
    container = request.app.state.container
    services: dict[str, dict[str, Any]]
    try:
        async with asyncio.timeout(budget):
            services = await container.database_probe().services()
    except TimeoutError:
        reason = f"no answer within {budget:g} s"
        services = {
            "database": {"status": "down", "reason": f"database unreachable ({reason})"},
            "migrations": {"status": "unknown", "reason": "the database is unreachable"},
        }
    book = container.provider_calls()
    for name in container.payment_providers().names():
        services[f"provider:{name}"] = _provider_view(book.last(name))
    return services


def _provider_view(last: LastCall | None) -> dict[str, Any]:
    # No provider is called to check its health (a Kaspi create is a bill on someone's phone):
    # the last real call says how it is doing.
    if last is None:
        return {"status": "unknown", "reason": "not called since this process started"}
    view: dict[str, Any] = {
        "status": "up" if last.consecutive_failures == 0 else "degraded",
        "last_outcome": last.outcome,
        "last_call_at": last.at.isoformat(),
    }
    if last.consecutive_failures:
        view["consecutive_failures"] = last.consecutive_failures
    return view


def _all_up(services: dict[str, dict[str, Any]], names: tuple[str, ...]) -> bool:
    return all(services[name]["status"] == "up" for name in names)


async def _routed_providers(request: Request, budget: float) -> dict[str, Any]:
    """`up`, or `down` when active seller routes use a provider that is off here (why, in `reason`)."""
    try:
        async with asyncio.timeout(budget):
            missing = await missing_providers(request.app.state.container)
    except Exception as error:  # noqa: BLE001 - the database answers for itself under "database"
        return {"status": "unknown", "reason": f"routes unreadable ({type(error).__name__})"}
    if missing:
        return {"status": "down", "reason": "; ".join(missing)}
    return {"status": "up"}


async def health(request: Request) -> Response:
    """Liveness: 200 while the process serves; `degraded` says a dependency is not well."""
    services = await _services(request, LIVENESS_BUDGET_SECONDS)
    healthy = _all_up(services, REQUIRED) and all(s["status"] != "degraded" for s in services.values())
    return JsonResponse(
        {
            "status": "healthy" if healthy else "degraded",
            "providers": mode_names(request.app.state.container),
            "services": services,
            "timestamp": request.app.state.container.clock().now().isoformat(),
        }
    )


async def ready(request: Request) -> Response:
    """Readiness: 503 until the database is reachable and migrated and every provider that active
    routes use is configured; `services` says why not."""
    services = await _services(request, READINESS_BUDGET_SECONDS)
    ready_now = _all_up(services, REQUIRED)
    if ready_now:
        services["routed_providers"] = await _routed_providers(request, READINESS_BUDGET_SECONDS)
        ready_now = _all_up(services, ("routed_providers",))
    return JsonResponse(
        {
            "status": "healthy" if ready_now else "unhealthy",
            "providers": mode_names(request.app.state.container),
            "services": services,
            "timestamp": request.app.state.container.clock().now().isoformat(),
        },
        status_code=200 if ready_now else 503,
    )


async def metrics(request: Request) -> Response:
    container = request.app.state.container
    body = await container.metrics().render(container.metric_samplers())
    return Response(body, media_type=CONTENT_TYPE)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
