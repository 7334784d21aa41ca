"""The OpenAPI 3.1 document of the HTTP API, generated from the operation table
(`endpoints.OPERATIONS`): paths and schemas from the declared `Struct`s; a test keeps it in step
with the real routes."""

from __future__ import annotations

from typing import Any

from entrypoints.http.endpoints import OPERATIONS
from entrypoints.http.operations import document

# The one schema still written by hand: the error body `errors.py` renders from plain data, which
# every operation's refusals name (`operations.error`).
SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["success", "error"],
        "properties": {
            "success": {"const": False},
            "error": {
                "type": "object",
                "required": ["code", "message", "field"],
                "properties": {
                    "code": {"type": "string", "example": "shop_not_found"},
                    "message": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                    "reference": {"type": "string", "description": "the pending payment or refund"},
                },
            },
            "detail": {"type": "string", "description": "the message again, on the old service's paths (its error shape)"},
        },
    },
}


def build_openapi() -> dict[str, Any]:
    paths, declared_schemas = document(OPERATIONS)
    # A declared type named as a hand-written schema would silently replace it for every path using it.
    clashes = sorted(SCHEMAS.keys() & declared_schemas.keys())
    if clashes:
        raise RuntimeError(f"declared types named as hand-written schemas: {', '.join(clashes)}")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Paygate",
            "version": "0.1.0",
            "description": "Multi-provider payment gateway for marketplaces. Amounts in the Kaspi endpoints are tenge.",
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": {**SCHEMAS, **declared_schemas},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "an API key from `paygate keys create`"}},
        },
    }
