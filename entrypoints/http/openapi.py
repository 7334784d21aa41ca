"""The OpenAPI 3.1 document of the HTTP API, generated from the operation table
(`endpoints.OPERATIONS`): paths and schemas from the declared `Struct`s; a test keeps it in step
with the real routes."""

from __future__ import annotations

from typing import Any

from entrypoints.http.endpoints import OPERATIONS
from entrypoints.http.operations import document

BEARER = {"type": "http", "scheme": "bearer", "description": "an API key from `paygate keys create`"}


def build_openapi() -> dict[str, Any]:
    paths, schemas = document(OPERATIONS)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Paygate",
            "version": "0.1.0",
            "description": (
                "Multi-provider payment gateway for marketplaces. Amounts in the Kaspi endpoints are tenge."
            ),
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": BEARER},
        },
    }
