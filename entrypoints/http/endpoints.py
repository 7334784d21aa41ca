"""Every declared operation of the HTTP API, in the order they are matched: `app.py` registers their
routes and `openapi.py` writes the document from the same list, so the two cannot drift apart."""

from __future__ import annotations

from entrypoints.http import admin_routes, bitrix_routes, health, kaspi_routes, v1_routes
from entrypoints.http.operations import Operation

OPERATIONS: list[Operation] = [
    *health.operations,
    *kaspi_routes.operations,
    *v1_routes.operations,
    *admin_routes.operations,
    *bitrix_routes.operations,
]
