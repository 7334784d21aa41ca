"""What load balancers and Prometheus ask, open without a key: liveness, readiness, metrics, and
this API's own document.

None of them carries a secret, a shop or an amount; `/metrics` labels are route templates,
methods, statuses, providers and operations only.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from adapters.metrics import CONTENT_TYPE
from adapters.providers.instrumented import LastCall

from entrypoints.http.legacy_shapes import Health, ServiceHealth
from entrypoints.http.operations import Operation, ok
from entrypoints.http.responses import JsonResponse
from entrypoints.http.use_cases import UseCases, use_cases

# A probe answers within its own timeout even when the database hangs (a blackholed host).
LIVENESS_BUDGET_SECONDS = 1.0
READINESS_BUDGET_SECONDS = 3.0
# What readiness needs; how providers answer is reported but never takes a replica out of the load
# balancer (every replica shares the same provider, and status reads and refunds of stored data
# still work). A provider missing from the configuration does (`routed_providers`).
REQUIRED = ("database", "migrations")


async def _services(cases: UseCases, budget: float) -> dict[str, ServiceHealth]:
    try:
        async with asyncio.timeout(budget):
            probed = await cases.database_probe.services()
    except TimeoutError:
        reason = f"no answer within {budget:g} s"
        probed = {
            "database": {"status": "down", "reason": f"database unreachable ({reason})"},
            "migrations": {"status": "unknown", "reason": "the database is unreachable"},
        }
    services = msgspec.convert(probed, dict[str, ServiceHealth])
    book = cases.provider_calls
    for name in cases.payment_providers.names():
        services[f"provider:{name}"] = _provider_health(book.last(name))
    return services


def _provider_health(last: LastCall | None) -> ServiceHealth:
    # No provider is called to check its health (a Kaspi create is a bill on someone's phone):
    # the last real call says how it is doing.
    if last is None:
        return ServiceHealth("unknown", reason="not called since this process started")
    return ServiceHealth(
        "up" if last.consecutive_failures == 0 else "degraded",
        last_outcome=last.outcome,
        last_call_at=last.at.isoformat(),
        consecutive_failures=last.consecutive_failures or None,
    )


def _all_up(services: dict[str, ServiceHealth], names: tuple[str, ...]) -> bool:
    return all(services[name].status == "up" for name in names)


async def _routed_providers(cases: UseCases, budget: float) -> ServiceHealth:
    """`up`, or `down` when active seller routes use a provider that is off here (why, in `reason`)."""
    try:
        async with asyncio.timeout(budget):
            missing = await cases.missing_providers()
    except Exception as error:  # noqa: BLE001 - the database answers for itself under "database"
        return ServiceHealth("unknown", reason=f"routes unreadable ({type(error).__name__})")
    if missing:
        return ServiceHealth("down", reason="; ".join(missing))
    return ServiceHealth("up")


async def health(request: Request) -> Response:
    """Liveness: 200 while the process serves; `degraded` says a dependency is not well."""
    cases = use_cases(request)
    services = await _services(cases, LIVENESS_BUDGET_SECONDS)
    healthy = _all_up(services, REQUIRED) and all(s.status != "degraded" for s in services.values())
    return JsonResponse(
        Health(
            status="healthy" if healthy else "degraded",
            providers=cases.provider_modes,
            services=services,
            timestamp=cases.clock.now().isoformat(),
        )
    )


async def ready(request: Request) -> Response:
    """Readiness: 503 until the database is reachable and migrated and every provider that active
    routes use is configured; `services` says why not."""
    cases = use_cases(request)
    services = await _services(cases, READINESS_BUDGET_SECONDS)
    ready_now = _all_up(services, REQUIRED)
    if ready_now:
        services["routed_providers"] = await _routed_providers(cases, READINESS_BUDGET_SECONDS)
        ready_now = _all_up(services, ("routed_providers",))
    return JsonResponse(
        Health(
            status="healthy" if ready_now else "unhealthy",
            providers=cases.provider_modes,
            services=services,
            timestamp=cases.clock.now().isoformat(),
        ),
        status_code=200 if ready_now else 503,
    )


async def metrics(request: Request) -> Response:
    cases = use_cases(request)
    return Response(await cases.metrics.render(cases.metric_samplers), media_type=CONTENT_TYPE)


async def openapi(request: Request) -> Response:
    """The document `create_app` built once from the operation table (`openapi.build_openapi`)."""
    document: dict[str, Any] = request.app.state.openapi
    return JsonResponse(document)


operations = [
    Operation(
        "GET", "/health", health,
        "Liveness (always 200 while serving), with the database, migrations and providers", Health,
        public=True, uses_database=False,
    ),
    Operation(
        "GET", "/ready", ready,
        "Readiness: database reachable and migrated, every provider that active routes use configured", Health,
        public=True, uses_database=False,
        responses={"503": ok("not ready", Health.__name__)},
    ),
    Operation(
        "GET", "/metrics", metrics, "Prometheus metrics (no secrets, shops or amounts in them)", None,
        media="text/plain", public=True, uses_database=False,
    ),
    Operation("GET", "/openapi.json", openapi, "This document", dict[str, Any], public=True, uses_database=False),
]
