"""The OpenAPI 3.1 document of the HTTP API; a test keeps it in step with the real routes."""

from __future__ import annotations

from typing import Any

from entrypoints.http.endpoints import OPERATIONS
from entrypoints.http.operations import (
    AUTH_ERRORS,
    BAD_INPUT,
    BUSY,
    IDEMPOTENCY_HEADER,
    JSON,
    PROVIDER_ERRORS,
    document,
    error,
    json_content,
    ok,
    ref,
)

# Shared with the operation table, which writes the operations declared there (endpoints.py).
_ref, _json, _error, _ok = ref, json_content, error, ok
_AUTH_ERRORS, _BAD_INPUT, _IDEMPOTENCY_HEADER, _PROVIDER_ERRORS, _BUSY = (
    AUTH_ERRORS, BAD_INPUT, IDEMPOTENCY_HEADER, PROVIDER_ERRORS, BUSY
)
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
            "detail": {"type": "string", "description": "the message again, on the old service's paths (its error shape)"},
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
        "description": "a Kaspi route as the old service showed it (never a device token)",
        "required": ["shop_id", "organization_bin", "provider", "is_active", "created_at", "updated_at"],
        "properties": {
            "shop_id": _SHOP_ID,
            "organization_bin": {"type": "string", "pattern": "^[0-9]{12}$"},
            "provider": {"type": "string", "example": "kaspi"},
            "is_active": {"type": "boolean"},
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
    "ConfigList": {"type": "array", "items": _ref("Config")},
    "ConfigDeactivated": {
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string", "example": "config of shop 8 deactivated"}},
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
            "source": {
                "type": ["string", "null"],
                "description": "for a status change: api, poller, webhook:<provider>, operator:<key name>, "
                "operator:cli or client_report",
            },
            "observed_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "for a status change: when the provider's state was observed",
            },
            "refund_id": {"type": ["string", "null"], "description": "the refund an entry is about"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "LogList": {"type": "array", "items": _ref("LogEntry")},
    "Health": {
        "type": "object",
        "required": ["status", "services", "timestamp"],
        "properties": {
            "status": {
                "enum": ["healthy", "degraded", "unhealthy"],
                "description": "/health: healthy or degraded (always 200); /ready: healthy or unhealthy (503)",
            },
            "providers": {
                "type": "object",
                "description": "each provider's mode here: `live`, `simulator` or `off` (never a host)",
                "additionalProperties": {"enum": ["live", "simulator", "off"]},
            },
            "services": {
                "type": "object",
                "description": (
                    "`database`, `migrations`, `provider:<name>` (from its last real call) and, on /ready, "
                    "`routed_providers` (down while active seller routes use a provider that is off)"
                ),
                "additionalProperties": _ref("ServiceHealth"),
            },
            "timestamp": {"type": "string", "format": "date-time"},
        },
    },
    "ServiceHealth": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"enum": ["up", "down", "degraded", "unknown"]},
            "reason": {"type": "string"},
            "latency_ms": {"type": "number"},
            "revisions": {"type": "array", "items": {"type": "string"}},
            "last_outcome": {"type": "string"},
            "last_call_at": {"type": "string", "format": "date-time"},
            "consecutive_failures": {"type": "integer"},
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
    "/health": {
        "get": {
            "summary": "Liveness (always 200 while serving), with the database, migrations and providers",
            "security": [],
            "responses": {"200": _ok("alive", "Health")},
        }
    },
    "/ready": {
        "get": {
            "summary": "Readiness: database reachable and migrated, every provider that active routes use configured",
            "security": [],
            "responses": {"200": _ok("ready", "Health"), "503": _ok("not ready", "Health")},
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics (no secrets, shops or amounts in them)",
            "security": [],
            "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}},
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
    "/payments/kaspi/status": {
        "get": {
            "summary": "Status of a Kaspi payment, as the marketplace backend asks for it (query form)",
            "parameters": [
                {"name": "external_id", "in": "query", "required": True, "schema": {"type": "string", "pattern": "^[0-9]{1,20}$"}}
            ],
            "responses": {
                "200": _ok("status", "PaymentStatus"),
                **_AUTH_ERRORS,
                "404": _error("unknown payment"),
                "422": _error("missing or invalid external id"),
            },
        }
    },
    "/payments/kaspi/refund": {"post": _post("Refund a paid Kaspi payment, fully or in part", "Refund", "Refunded")},
    "/admin/configs": {
        "get": {"summary": "List seller routes", "responses": {"200": _ok("routes", "ConfigList"), **_AUTH_ERRORS}},
        "post": _post("Add a seller route (200, as the old service answered)", "NewConfig", "Config", provider=False),
    },
    "/admin/configs/{shop_id}": {
        "parameters": [_SHOP_PATH],
        "get": {
            "summary": "One seller route",
            "responses": {"200": _ok("route", "Config"), **_AUTH_ERRORS, "404": _error("unknown shop"), "422": _error("bad shop id")},
        },
        "put": {
            "summary": "Change a seller route",
            "requestBody": {"required": True, **_json(_ref("ConfigChange"))},
            "responses": {"200": _ok("route", "Config"), **_AUTH_ERRORS, **_BAD_INPUT, "404": _error("unknown shop")},
        },
        "delete": {
            "summary": "Deactivate a seller route (it is kept for the audit trail; PUT re-activates)",
            "responses": {"200": _ok("deactivated", "ConfigDeactivated"), **_AUTH_ERRORS, "404": _error("unknown shop"), "422": _error("bad shop id")},
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


# --- The Bitrix client's calls (entrypoints/http/bitrix_routes.py) ---------------------------------

_KASPI_STATUS = {"enum": ["QrTokenCreated", "RemotePaymentCreated", "Wait", "Processed", "Error"]}
_BIN = {"type": "string", "pattern": "^[0-9]{12}$", "example": "920317450731"}
_KASPI_ID = {"type": "string", "pattern": "^[0-9]{1,20}$", "example": "12800627774"}

SCHEMAS.update(
    {
        "PaymentConfig": {
            "type": "object",
            "required": ["shop_id", "organization_bin", "device_token", "is_active", "provider"],
            "properties": {
                "shop_id": _SHOP_ID,
                "organization_bin": _BIN,
                "device_token": {
                    "type": ["string", "null"],
                    "description": "only for a key with the `routes:secrets` scope; null otherwise",
                },
                "is_active": {"type": "boolean"},
                "provider": {"type": "string", "example": "kaspi"},
            },
        },
        "ClientLogEntry": {
            "type": "object",
            "additionalProperties": False,
            "required": ["shop_id", "organization_bin", "operation_type", "status"],
            "properties": {
                "shop_id": _SHOP_ID,
                "organization_bin": _BIN,
                "operation_type": {"enum": ["create", "create-link", "create_link", "status", "refund", "cancel"]},
                "external_id": {**_KASPI_ID, "type": ["string", "null"]},
                "amount": {
                    "type": ["number", "null"], "minimum": 0, "maximum": 10**11, "multipleOf": 0.01,
                    "description": "tenge as Kaspi reported it (`100.00`); stored in tiyn",
                },
                "status": {"enum": [*_KASPI_STATUS["enum"], "success", "pending", "error"]},
                "error_message": {"type": ["string", "null"], "maxLength": 1000},
                "provider": {"type": ["string", "null"], "pattern": "^[a-z][a-z0-9_]{0,31}$", "default": "kaspi"},
            },
        },
        "ClientLogRecorded": {
            "type": "object",
            "required": ["success", "log"],
            "properties": {"success": {"const": True}, "log": {"type": "object"}},
        },
        "StatusReport": {
            "type": "object",
            "additionalProperties": False,
            "required": ["shop_id", "external_id", "status"],
            "properties": {
                "shop_id": _SHOP_ID,
                "external_id": _KASPI_ID,
                "status": _KASPI_STATUS,
                "error_message": {"type": ["string", "null"], "maxLength": 1000},
            },
        },
        "StatusReported": {
            "type": "object",
            "required": ["success", "shop_id", "external_id", "status"],
            "properties": {
                "success": {"const": True},
                "shop_id": _SHOP_ID,
                "external_id": {"type": "string"},
                "status": {"type": ["string", "null"], "description": "Kaspi's status as Paygate now holds it"},
            },
        },
    }
)

# The old service's request bodies, as it took them: numbers also as numeric strings (plain digits
# for ids, at most two decimals for amounts), unknown fields ignored.
_NUMERIC_TEXT = {
    "shop_id": {"type": "string", "pattern": "^[0-9]{1,19}$", "example": "121038"},
    "amount": {"type": "string", "pattern": "^[0-9]{1,15}(\\.[0-9]{1,2})?$", "example": "5000.00"},
}
for _name in ("CreateRemotePayment", "CreatePaymentLink", "Refund", "NewConfig", "ConfigChange", "ClientLogEntry", "StatusReport"):
    _schema = SCHEMAS[_name]
    _schema.pop("additionalProperties", None)
    for _field, _text in _NUMERIC_TEXT.items():
        if _field in _schema["properties"]:
            _schema["properties"][_field] = {"anyOf": [_schema["properties"][_field], _text]}

PATHS.update(
    {
        "/api/payment/config": {
            "get": {
                "summary": "A shop's Kaspi route for the Bitrix client (the device token needs `routes:secrets`)",
                "parameters": [{"name": "shop_id", "in": "query", "required": True, "schema": _SHOP_ID}],
                "responses": {
                    "200": _ok("the route", "PaymentConfig"),
                    **_AUTH_ERRORS,
                    "403": _error("`shop_inactive`: the route is deactivated (never a BIN to bill), or a missing scope"),
                    "404": _error("unknown shop (or one the key does not reach)"),
                    "422": _error("bad shop id"),
                    "503": _error("the stored credentials cannot be decrypted (SECRETS_KEY)"),
                },
            }
        },
        "/api/payment/log": {
            "post": _post(
                "Record the client's own operation in the audit log", "ClientLogEntry", "ClientLogRecorded",
                created=True, provider=False,
            )
        },
        "/api/payment/status": {
            "patch": {
                "summary": "Report a status the client saw; applied only once Kaspi confirms it",
                "requestBody": {"required": True, **_json(_ref("StatusReport"))},
                "responses": {
                    "200": _ok("the payment as it stands", "StatusReported"),
                    **_AUTH_ERRORS,
                    **_BAD_INPUT,
                    "404": _error("unknown shop or payment (or one the key does not reach)"),
                    "409": _error("`illegal_transition`, or `status_not_confirmed` by Kaspi: nothing changed"),
                },
            }
        },
        "/api/health": {
            "get": {"summary": "Liveness, for the Bitrix client", "security": [], "responses": {"200": _ok("alive", "Health")}}
        },
    }
)


# Paths that never answer 503 for the database (health says so in its body; /ready documents its own
# 503). Every other operation reads or writes it, and answers 503 `database_unavailable` while it is away.
_WITHOUT_DATABASE_OUTAGE = frozenset({"/health", "/ready", "/metrics", "/openapi.json", "/api/health"})
_DATABASE_UNAVAILABLE = {
    **_error("`database_unavailable`: the database is unreachable (a restart, a failover); retry shortly with the same Idempotency-Key"),
    "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer", "minimum": 1}}},
}
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def _with_database_outage(paths: dict[str, Any]) -> dict[str, Any]:
    """`paths` with the 503 of a database outage on every operation that uses the database (new ones too)."""
    def operation(method: str, item: Any) -> Any:
        if method not in _METHODS:
            return item  # path-level `parameters`
        return {**item, "responses": {"503": _DATABASE_UNAVAILABLE, **item["responses"]}}

    return {
        path: item if path in _WITHOUT_DATABASE_OUTAGE else {method: operation(method, op) for method, op in item.items()}
        for path, item in paths.items()
    }


def _null_as_absent(schema: dict[str, Any]) -> dict[str, Any]:
    """An object schema whose optional properties also take `null`, which request bodies read as absent."""
    required = set(schema.get("required", ()))

    def nullable(prop: dict[str, Any]) -> dict[str, Any]:
        kind = prop.get("type")
        if isinstance(kind, str):
            return {**prop, "type": [kind, "null"]}
        if isinstance(kind, list):
            return prop if "null" in kind else {**prop, "type": [*kind, "null"]}
        return {"anyOf": [prop, {"type": "null"}]}

    properties = {name: prop if name in required else nullable(prop) for name, prop in schema["properties"].items()}
    return {**schema, "properties": properties}


def _request_schemas(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """`schemas` with every JSON request body's optional fields nullable (`json_body.Body` takes null
    for absent: clients such as the Bitrix one send `"error_message": null`)."""
    prefix = "#/components/schemas/"
    names = {
        content["schema"]["$ref"].removeprefix(prefix)
        for item in paths.values()
        for method, operation in item.items()
        if method in _METHODS and "requestBody" in operation
        for media, content in operation["requestBody"]["content"].items()
        if media == JSON and content.get("schema", {}).get("$ref", "").startswith(prefix)
    }
    return {
        name: _null_as_absent(schema) if name in names and "properties" in schema else schema
        for name, schema in schemas.items()
    }


def build_openapi() -> dict[str, Any]:
    declared_paths, declared_schemas = document(OPERATIONS)
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
        "paths": {**_with_database_outage(PATHS), **declared_paths},
        "components": {
            "schemas": {**_request_schemas(PATHS, SCHEMAS), **declared_schemas},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "an API key from `paygate keys create`"}},
        },
    }
