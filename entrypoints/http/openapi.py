"""The OpenAPI 3.1 document of the HTTP API; a test keeps it in step with the real routes."""

from __future__ import annotations

from typing import Any

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, **_json(_ref("Error"))}


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, **_json(_ref(schema))}


_AUTH_ERRORS = {"401": _error("missing, unknown or revoked API key"), "403": _error("the key lacks the scope")}
_BAD_INPUT = {"400": _error("unreadable JSON"), "413": _error("body too large"), "422": _error("invalid field")}
_IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A replay with the same key returns the first response; another body with it is refused (422).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
_PROVIDER_ERRORS = {
    "402": _error("the provider declined"),
    "502": _error("the provider answered unreadably: outcome unknown, kept pending"),
    "504": _error("the provider timed out: outcome unknown, kept pending"),
}
_SHOP_ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1, "example": 121038}
_TENGE = {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01, "description": "tenge", "example": 5000}
_SHOP_PATH = {"name": "shop_id", "in": "path", "required": True, "schema": _SHOP_ID}

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
        },
    },
    "CreateRemotePayment": {
        "type": "object",
        "additionalProperties": False,
        "required": ["shop_id", "amount", "phone"],
        "properties": {
            "shop_id": _SHOP_ID,
            "amount": _TENGE,
            "phone": {"type": "string", "maxLength": 32, "example": "+7 701 521 15 45"},
            "message": {"type": "string", "maxLength": 255, "example": "Order 1001"},
        },
    },
    "RemotePaymentCreated": {
        "type": "object",
        "required": ["success", "external_id", "status", "organization_bin"],
        "properties": {
            "success": {"const": True},
            "external_id": {"type": "string", "example": "12800627774"},
            "status": {"type": "string", "example": "Wait"},
            "organization_bin": {"type": "string", "example": "920317450731"},
        },
    },
    "CreatePaymentLink": {
        "type": "object",
        "additionalProperties": False,
        "required": ["shop_id", "amount"],
        "properties": {
            "shop_id": _SHOP_ID,
            "amount": _TENGE,
            "message": {"type": "string", "maxLength": 255},
        },
    },
    "PaymentLinkCreated": {
        "type": "object",
        "required": ["success", "payment_id", "payment_link", "expire_date", "organization_bin"],
        "properties": {
            "success": {"const": True},
            "payment_id": {"type": "string", "example": "12800944903"},
            "payment_link": {"type": "string", "example": "https://pay.kaspi.kz/pay/..."},
            "expire_date": {"type": ["string", "null"], "format": "date-time"},
            "organization_bin": {"type": "string"},
        },
    },
    "PaymentStatus": {
        "type": "object",
        "required": ["success", "external_id", "status"],
        "properties": {
            "success": {"const": True},
            "external_id": {"type": "string"},
            "status": {"type": ["string", "null"], "example": "Processed"},
        },
    },
    "Refund": {
        "type": "object",
        "additionalProperties": False,
        "required": ["shop_id", "external_id", "amount"],
        "properties": {
            "shop_id": _SHOP_ID,
            "external_id": {"type": "string", "pattern": "^[0-9]{1,20}$"},
            "amount": _TENGE,
        },
    },
    "Refunded": {
        "type": "object",
        "required": ["success", "external_id", "refunded_amount", "organization_bin"],
        "properties": {
            "success": {"const": True},
            "external_id": {"type": "string"},
            "refunded_amount": {"type": "number"},
            "organization_bin": {"type": "string"},
        },
    },
    "Config": {
        "type": "object",
        "required": ["shop_id", "organization_bin", "provider", "is_active", "has_device_token"],
        "properties": {
            "shop_id": _SHOP_ID,
            "organization_bin": {"type": "string", "pattern": "^[0-9]{12}$"},
            "provider": {"type": "string", "example": "kaspi"},
            "is_active": {"type": "boolean"},
            "has_device_token": {"type": "boolean", "description": "the token itself is never returned"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "NewConfig": {
        "type": "object",
        "additionalProperties": False,
        "required": ["shop_id", "organization_bin"],
        "properties": {
            "shop_id": _SHOP_ID,
            "organization_bin": {"type": "string", "pattern": "^[0-9]{12}$", "example": "920317450731"},
            "device_token": {"type": "string", "maxLength": 128},
            "is_active": {"type": "boolean", "default": True},
            "provider": {"const": "kaspi"},
        },
    },
    "ConfigChange": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "organization_bin": {"type": "string", "pattern": "^[0-9]{12}$"},
            "device_token": {"type": "string", "maxLength": 128},
            "is_active": {"type": "boolean"},
            "provider": {"const": "kaspi"},
        },
    },
    "ConfigResponse": {
        "type": "object",
        "required": ["success", "config"],
        "properties": {"success": {"const": True}, "config": _ref("Config")},
    },
    "ConfigList": {
        "type": "object",
        "required": ["success", "configs"],
        "properties": {"success": {"const": True}, "configs": {"type": "array", "items": _ref("Config")}},
    },
    "LogEntry": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "shop_id": {"type": ["integer", "null"]},
            "organization_bin": {"type": ["string", "null"]},
            "operation_type": {"type": "string", "example": "create"},
            "external_id": {"type": ["string", "null"]},
            "payment_id": {"type": ["string", "null"]},
            "amount": {"type": ["integer", "null"], "description": "minor units (tiyn)"},
            "currency": {"type": ["string", "null"]},
            "status": {"enum": ["success", "pending", "error"]},
            "error_message": {"type": ["string", "null"]},
            "provider": {"type": ["string", "null"]},
            "actor": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "LogList": {
        "type": "object",
        "required": ["success", "logs"],
        "properties": {"success": {"const": True}, "logs": {"type": "array", "items": _ref("LogEntry")}},
    },
    "Health": {
        "type": "object",
        "required": ["status", "timestamp"],
        "properties": {
            "status": {"enum": ["healthy", "unhealthy"]},
            "services": {"type": "object"},
            "timestamp": {"type": "string", "format": "date-time"},
        },
    },
}


def _post(summary: str, request: str, response: str, *, created: bool = False, provider: bool = True) -> dict[str, Any]:
    responses = {("201" if created else "200"): _ok(summary, response), **_AUTH_ERRORS, **_BAD_INPUT}
    responses |= {"404": _error("unknown shop or payment"), "409": _error("conflict (see the code)")}
    if provider:
        responses |= {"403": _error("inactive shop or missing scope"), **_PROVIDER_ERRORS}
    return {
        "summary": summary,
        "parameters": [_IDEMPOTENCY_HEADER],
        "requestBody": {"required": True, **_json(_ref(request))},
        "responses": responses,
    }


PATHS: dict[str, Any] = {
    "/health": {"get": {"summary": "Liveness", "security": [], "responses": {"200": _ok("alive", "Health")}}},
    "/ready": {
        "get": {
            "summary": "Readiness: database reachable and migrated",
            "security": [],
            "responses": {"200": _ok("ready", "Health"), "503": _ok("not ready", "Health")},
        }
    },
    "/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI"}}}},
    "/payments/kaspi/create": {
        "post": _post("Push a Kaspi bill to the customer's phone", "CreateRemotePayment", "RemotePaymentCreated")
    },
    "/payments/kaspi/create-link": {
        "post": _post("Create a Kaspi payment link / QR", "CreatePaymentLink", "PaymentLinkCreated")
    },
    "/payments/kaspi/status/{external_id}": {
        "get": {
            "summary": "Status of a Kaspi payment, refreshed from Kaspi while pending",
            "parameters": [
                {"name": "external_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9]{1,20}$"}}
            ],
            "responses": {
                "200": _ok("status", "PaymentStatus"),
                **_AUTH_ERRORS,
                "404": _error("unknown payment"),
                "422": _error("invalid external id"),
            },
        }
    },
    "/payments/kaspi/refund": {"post": _post("Refund a paid Kaspi payment, fully or in part", "Refund", "Refunded")},
    "/admin/configs": {
        "get": {"summary": "List seller routes", "responses": {"200": _ok("routes", "ConfigList"), **_AUTH_ERRORS}},
        "post": _post("Add a seller route", "NewConfig", "ConfigResponse", created=True, provider=False),
    },
    "/admin/configs/{shop_id}": {
        "parameters": [_SHOP_PATH],
        "get": {
            "summary": "One seller route",
            "responses": {"200": _ok("route", "ConfigResponse"), **_AUTH_ERRORS, "404": _error("unknown shop"), "422": _error("bad shop id")},
        },
        "put": {
            "summary": "Change a seller route",
            "requestBody": {"required": True, **_json(_ref("ConfigChange"))},
            "responses": {"200": _ok("route", "ConfigResponse"), **_AUTH_ERRORS, **_BAD_INPUT, "404": _error("unknown shop")},
        },
        "delete": {
            "summary": "Deactivate a seller route (it is kept for the audit trail)",
            "responses": {"200": _ok("route", "ConfigResponse"), **_AUTH_ERRORS, "404": _error("unknown shop"), "422": _error("bad shop id")},
        },
    },
    "/admin/logs": {
        "get": {
            "summary": "Audit log, newest first",
            "parameters": [
                {"name": "shop_id", "in": "query", "required": False, "schema": _SHOP_ID},
                {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
            ],
            "responses": {"200": _ok("entries", "LogList"), **_AUTH_ERRORS, "422": _error("bad query")},
        }
    },
}


def build_openapi() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Paygate",
            "version": "0.1.0",
            "description": "Multi-provider payment gateway for marketplaces. Amounts in the Kaspi endpoints are tenge.",
        },
        "security": [{"bearer": []}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "an API key from `paygate keys create`"}},
        },
    }
