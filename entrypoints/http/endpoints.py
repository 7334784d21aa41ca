"""Every declared operation of the HTTP API, in the order they are matched: `app.py` registers their
routes and `openapi.py` writes the document from the same list, so the two cannot drift apart."""

from __future__ import annotations

from entrypoints.http import (
    admin_routes,
    bitrix_routes,
    checkout_routes,
    health,
    kaspi_routes,
    provider_webhooks,
    report_routes,
    seller_routes,
    v1_routes,
    webhook_routes,
)
from entrypoints.http.operations import Operation

OPERATIONS: list[Operation] = [
    *health.operations,
    *kaspi_routes.operations,
    *v1_routes.operations,
    *seller_routes.operations,
    *checkout_routes.operations,
    *report_routes.operations,
    *admin_routes.operations,
    *webhook_routes.operations,
    *bitrix_routes.operations,
    *provider_webhooks.operations,
]
