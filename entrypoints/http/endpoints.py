"""Every declared operation of the HTTP API, in the order they are matched: `app.py` registers their
routes and `openapi.py` writes the document from the same list, so the two cannot drift apart."""

from __future__ import annotations

from entrypoints.http import v1_routes
from entrypoints.http.operations import Operation

OPERATIONS: list[Operation] = [
    *v1_routes.operations,
]
