"""The OpenAPI 3.1 document of the HTTP API; a test keeps it in step with the real routes."""

from __future__ import annotations

from typing import Any

from domain.events import EventType
from domain.payment import PaymentStatus
from domain.webhooks import DELIVERY_FILTERS

from entrypoints.http.endpoints import OPERATIONS
from entrypoints.http.operations import (
    AUTH_ERRORS,
    BAD_INPUT,
    BUSY,
    DATABASE_UNAVAILABLE,
    IDEMPOTENCY_HEADER,
    JSON,
    document,
    error,
    json_content,
    ok,
    ref,
)

# Shared with the operation table, which writes the operations declared there (endpoints.OPERATIONS).
_ref, _json, _error, _ok = ref, json_content, error, ok
_AUTH_ERRORS, _BAD_INPUT, _IDEMPOTENCY_HEADER, _BUSY = AUTH_ERRORS, BAD_INPUT, IDEMPOTENCY_HEADER, BUSY
_SHOP_ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1, "example": 121038}
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
}


PATHS: dict[str, Any] = {}


# --- Outgoing webhooks (entrypoints/http/webhook_routes.py) ----------------------------------------

_EVENT_TYPES = [event_type.value for event_type in EventType]  # the domain's list, never a copy of it
_WEBHOOK_ID = {"type": "string", "pattern": "^[A-Za-z0-9_]{1,64}$"}
_OPERATOR_ERRORS = {**_AUTH_ERRORS, "403": _error("the key lacks the admin scope, or reaches only some shops")}

SCHEMAS.update(
    {

        "Webhook": {
            "type": "object",
            "required": ["id", "url", "event_types", "is_active"],
            "properties": {
                "id": {"type": "string", "example": "wh_01JD..."},
                "url": {"type": "string", "format": "uri"},
                "event_types": {"type": "array", "items": {"enum": _EVENT_TYPES}},
                "description": {"type": "string"},
                "is_active": {"type": "boolean"},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"},
            },
        },
        "NewWebhook": {
            "type": "object",
            "additionalProperties": False,
            "required": ["url"],
            "properties": {
                "url": {"type": "string", "format": "uri", "maxLength": 2048, "example": "https://crm.example/paygate"},
                "event_types": {
                    "type": ["array", "null"],
                    "items": {"enum": _EVENT_TYPES},
                    "minItems": 1,
                    "description": "omitted or null: every event type",
                },
                "description": {"type": ["string", "null"], "maxLength": 255},
            },
        },
        "WebhookCreated": {
            "type": "object",
            "required": ["success", "webhook", "secret"],
            "properties": {
                "success": {"const": True},
                "webhook": _ref("Webhook"),
                "secret": {
                    "type": "string",
                    "description": "signs every delivery (`Paygate-Signature`); shown this once, never again",
                },
            },
        },
        "WebhookResponse": {
            "type": "object",
            "required": ["success", "webhook"],
            "properties": {"success": {"const": True}, "webhook": _ref("Webhook")},
        },
        "WebhookList": {
            "type": "object",
            "required": ["success", "webhooks"],
            "properties": {"success": {"const": True}, "webhooks": {"type": "array", "items": _ref("Webhook")}},
        },
        "DeliveryAttempt": {
            "type": "object",
            "properties": {
                "attempted_at": {"type": "string", "format": "date-time"},
                "succeeded": {"type": "boolean"},
                "status_code": {"type": ["integer", "null"]},
                "error": {"type": ["string", "null"]},
                "duration_ms": {"type": "integer"},
            },
        },
        "Delivery": {
            "type": "object",
            "required": ["id", "subscription_id", "event_id", "event_type", "status", "attempts"],
            "properties": {
                "id": {"type": "string"},
                "subscription_id": {"type": "string"},
                "event_id": {"type": "string"},
                "event_type": {"enum": _EVENT_TYPES},
                "payment_id": {"type": "string"},
                "sequence": {"type": "integer", "description": "the event's place among its payment's events"},
                "status": {"enum": ["pending", "delivered", "dead", "cancelled", "blocked"]},
                "attempts": {"type": "integer", "description": "since it was last queued"},
                "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
                "last_attempt_at": {"type": ["string", "null"], "format": "date-time"},
                "last_status_code": {"type": ["integer", "null"]},
                "last_error": {"type": ["string", "null"]},
                "delivered_at": {"type": ["string", "null"], "format": "date-time"},
                "created_at": {"type": "string", "format": "date-time"},
                "attempt_log": {"type": "array", "items": _ref("DeliveryAttempt"), "description": "every attempt, oldest first"},
            },
        },
        "DeliveryList": {
            "type": "object",
            "required": ["success", "deliveries"],
            "properties": {"success": {"const": True}, "deliveries": {"type": "array", "items": _ref("Delivery")}},
        },
        "DeliveryResponse": {
            "type": "object",
            "required": ["success", "delivery"],
            "properties": {"success": {"const": True}, "delivery": _ref("Delivery")},
        },
    }
)

PATHS.update(
    {
        "/admin/webhooks": {
            "get": {
                "summary": "Active webhook subscriptions (never their secrets)",
                "responses": {"200": _ok("subscriptions", "WebhookList"), **_OPERATOR_ERRORS},
            },
            "post": {
                "summary": "Subscribe a URL to events; the answer holds its signing secret, shown once",
                "requestBody": {"required": True, **_json(_ref("NewWebhook"))},
                "responses": {"201": _ok("subscribed", "WebhookCreated"), **_OPERATOR_ERRORS, **_BAD_INPUT},
            },
        },
        "/admin/webhooks/{webhook_id}": {
            "parameters": [{"name": "webhook_id", "in": "path", "required": True, "schema": _WEBHOOK_ID}],
            "delete": {
                "summary": "Unsubscribe: nothing more is sent; what was still pending is cancelled",
                "responses": {
                    "200": _ok("unsubscribed", "WebhookResponse"),
                    **_OPERATOR_ERRORS,
                    "404": _error("unknown subscription"),
                    "422": _error("bad id"),
                },
            },
        },
        "/admin/webhooks/deliveries": {
            "get": {
                "summary": "Deliveries with every attempt, newest first",
                "parameters": [
                    {"name": "event_id", "in": "query", "required": False, "schema": _WEBHOOK_ID},
                    {"name": "webhook_id", "in": "query", "required": False, "schema": _WEBHOOK_ID},
                    {"name": "status", "in": "query", "required": False, "schema": {"enum": list(DELIVERY_FILTERS)}},
                    {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
                ],
                "responses": {"200": _ok("deliveries", "DeliveryList"), **_OPERATOR_ERRORS, "422": _error("bad query")},
            }
        },
        "/admin/webhooks/deliveries/{delivery_id}/redeliver": {
            "parameters": [{"name": "delivery_id", "in": "path", "required": True, "schema": _WEBHOOK_ID}],
            "post": {
                "summary": "Send the event again now, with a fresh retry schedule (dead-lettered ones too)",
                "responses": {
                    "200": _ok("queued", "DeliveryResponse"),
                    **_OPERATOR_ERRORS,
                    "404": _error("unknown delivery, or its subscription was deleted"),
                    "422": _error("bad id"),
                },
            },
        },
    }
)


# --- Seller routes (seller_routes.py); /v1 is declared by its operation table in v1_routes.py ---

_NULLABLE_TEXT = {"type": ["string", "null"]}
_PAYMENT_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "example": "pay_01JD8X3V6Q4ZK0M5N2R7T9W1YB"}
_PAYMENT_PATH = {"name": "payment_id", "in": "path", "required": True, "schema": _PAYMENT_ID}


def _signed_link(
    summary: str, media: str, *, schema: dict[str, Any] | None = None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A link the customer's browser opens with the payment's signed token instead of an API key."""
    token = {"name": "token", "in": "query", "required": True, "schema": {"type": "string", "maxLength": 128}}
    return {
        "parameters": [_PAYMENT_PATH, token],
        "get": {
            "summary": summary,
            "security": [],
            "responses": {
                "200": {"description": summary, "content": {media: {"schema": schema or {"type": "string"}}}},
                **(extra or {}),
                "403": _error("`invalid_token`: missing, tampered, expired, or another payment's"),
                "404": _error("the payment has no such picture"),
            },
        },
    }


# The settlement report (entrypoints/http/report_routes.py).
SCHEMAS["SettlementReport"] = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "data": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "shop_id", "date", "provider", "currency", "payments_count", "paid", "refunds_count",
                    "refunded", "net",
                ],
                "properties": {
                    "shop_id": {"type": "integer"},
                    "date": {"type": "string", "format": "date", "description": "a day in REPORT_TIMEZONE"},
                    "provider": {"type": "string"},
                    "currency": {"type": "string"},
                    "payments_count": {"type": "integer", "minimum": 0},
                    "paid": {"type": "integer", "minimum": 0, "description": "payments that succeeded that day"},
                    "refunds_count": {"type": "integer", "minimum": 0},
                    "refunded": {"type": "integer", "minimum": 0, "description": "refunds that succeeded that day"},
                    "net": {"type": "integer", "description": "paid less refunded (negative when more went back)"},
                },
            },
        },
    },
}

# What a pay page polls (entrypoints/http/checkout_routes.py).
SCHEMAS["PayPageStatus"] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["status", "status_text", "final", "return_url"],
    "properties": {
        "status": {"enum": [status.value for status in PaymentStatus]},
        "status_text": {"type": "string"},
        "final": {"type": "boolean"},
        "return_url": {**_NULLABLE_TEXT, "description": "once final: the return_url with payment_id and status"},
    },
}


_PROVIDER_NAME = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,31}$", "example": "kaspi"}

SCHEMAS.update(
    {
        "Route": {
            "type": "object",
            "required": [
                "shop_id", "provider", "merchant_account", "credential_names", "is_active", "is_default",
                "created_at", "updated_at",
            ],
            "properties": {
                "shop_id": _SHOP_ID,
                "provider": {"type": "string", "example": "stripe"},
                "merchant_account": {"type": "string", "example": "acct_1Nv0FGQ9RKHgCVdK"},
                "credential_names": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "which credentials are set; their values are never returned",
                },
                "is_active": {"type": "boolean"},
                "is_default": {"type": "boolean"},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"},
            },
        },
        "RouteList": {
            "type": "object",
            "required": ["data"],
            "properties": {"data": {"type": "array", "items": _ref("Route")}},
        },
        "NewRoute": {
            "type": "object",
            "additionalProperties": False,
            "required": ["shop_id", "provider", "merchant_account"],
            "properties": {
                "shop_id": _SHOP_ID,
                "provider": _PROVIDER_NAME,
                "merchant_account": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 128,
                    "description": "Kaspi BIN, Stripe acct_..., YooKassa shop id, CloudPayments public id",
                },
                "credentials": {
                    "type": ["object", "null"],
                    "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 512},
                    "description": "write-only: Kaspi device_token, YooKassa secret_key, CloudPayments api_secret",
                },
                "is_active": {"type": ["boolean", "null"], "default": True},
                "is_default": {"type": ["boolean", "null"], "default": False},
            },
        },
        "RouteChange": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "merchant_account": {"type": ["string", "null"], "minLength": 1, "maxLength": 128},
                "credentials": {
                    "type": ["object", "null"],
                    "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 512},
                    "description": "merged into the route's credentials",
                },
                "is_active": {"type": ["boolean", "null"]},
                "is_default": {"type": ["boolean", "null"], "description": "true unsets the shop's other default"},
            },
        },
    }
)


_ROUTE_PATH = [_SHOP_PATH, {"name": "provider", "in": "path", "required": True, "schema": _PROVIDER_NAME}]

PATHS.update(
    {
        "/v1/reports/settlements": {
            "get": {
                "summary": "What each seller was paid and refunded per day, provider and currency",
                "description": "Days `from` to `to` inclusive (at most 366), in REPORT_TIMEZONE; within the key's shops. "
                "`Accept: text/csv` answers the same rows as CSV.",
                "parameters": [
                    {"name": "shop_id", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
                    {"name": "from", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
                    {"name": "to", "in": "query", "required": True, "schema": {"type": "string", "format": "date"}},
                ],
                "responses": {
                    "200": {
                        "description": "settlement rows",
                        "content": {
                            "application/json": {"schema": _ref("SettlementReport")},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **_AUTH_ERRORS,
                    "422": _error("bad query"),
                    **_BUSY,
                },
            },
        },
        "/v1/payments/{payment_id}/qr.png": _signed_link("The Kaspi link's QR code as a PNG picture", "image/png"),
        "/v1/payments/{payment_id}/qr.svg": _signed_link("The Kaspi link's QR code as an SVG picture", "image/svg+xml"),
        "/pay/{payment_id}": _signed_link(
            "The hosted pay page (a 303 to the provider's own page for YooKassa and CloudPayments)", "text/html",
            extra={"303": {"description": "to the provider's checkout page"}},
        ),
        "/pay/{payment_id}/status": _signed_link(
            "The payment's status for its pay page; refreshed from the provider at most once per payment per 5 s",
            "application/json", schema=_ref("PayPageStatus"),
        ),
        "/pay/assets/{name}": {
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {
                "summary": "The pay page's own scripts",
                "security": [],
                "responses": {
                    "200": {"description": "JavaScript", "content": {"text/javascript": {"schema": {"type": "string"}}}},
                    "404": _error("no such file"),
                },
            },
        },
        "/admin/routes": {
            "get": {
                "summary": "Seller routes of every provider (credential names only)",
                "parameters": [
                    {"name": "shop_id", "in": "query", "required": False, "schema": _SHOP_ID},
                    {"name": "provider", "in": "query", "required": False, "schema": _PROVIDER_NAME},
                ],
                "responses": {"200": _ok("routes", "RouteList"), **_AUTH_ERRORS, "422": _error("bad query"), **_BUSY},
            },
            "post": {
                "summary": "Add a seller's route to its own account at a provider (one per shop and provider)",
                "parameters": [_IDEMPOTENCY_HEADER],
                "requestBody": {"required": True, **_json(_ref("NewRoute"))},
                "responses": {
                    "201": _ok("route", "Route"),
                    **_AUTH_ERRORS,
                    **_BAD_INPUT,
                    "404": _error("a shop the key does not reach"),
                    "409": _error("route_exists"),
                    "422": _error("invalid field, unknown credential name, or provider_not_configured"),
                    **_BUSY,
                },
            },
        },
        "/admin/routes/{shop_id}/{provider}": {
            "parameters": _ROUTE_PATH,
            "get": {
                "summary": "One route",
                "responses": {"200": _ok("route", "Route"), **_AUTH_ERRORS, "404": _error("no such route"), "422": _error("bad path"), **_BUSY},
            },
            "put": {
                "summary": "Change a route; credentials are merged, `is_default: true` unsets the shop's other default",
                "requestBody": {"required": True, **_json(_ref("RouteChange"))},
                "responses": {"200": _ok("route", "Route"), **_AUTH_ERRORS, **_BAD_INPUT, "404": _error("no such route"), **_BUSY},
            },
            "delete": {
                "summary": "Deactivate a route (kept for the audit trail)",
                "responses": {"200": _ok("route", "Route"), **_AUTH_ERRORS, "404": _error("no such route"), "422": _error("bad path"), **_BUSY},
            },
        },
    }
)


# --- YooKassa's notifications (entrypoints/http/provider_webhooks/yookassa.py) ---------------------

PATHS.update(
    {
        "/webhooks/yookassa": {
            "post": {
                "summary": "YooKassa's notifications: taken from YooKassa's networks only, then checked with its API",
                "description": (
                    "Unsigned, so only a hint: the payment is fetched again from YooKassa before anything changes. "
                    "The sender's address is the connecting one, or behind TRUSTED_PROXIES the forwarded one."
                ),
                "security": [],
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "required": ["type", "event", "object"],
                            "properties": {
                                "type": {"const": "notification"},
                                "event": {"type": "string", "example": "payment.succeeded"},
                                "object": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
                            },
                        }
                    ),
                },
                "responses": {
                    "200": {"description": "accepted: applied, ignored (not about a payment) or not one of ours"},
                    "400": _error("not a YooKassa notification"),
                    "403": _error("not from YooKassa's networks (webhook_source_not_allowed)"),
                    "404": _error("YooKassa is not configured on this gateway"),
                },
            }
        },
    }
)


# --- Stripe's events (entrypoints/http/provider_webhooks/stripe.py) ---------------------------------

PATHS.update(
    {
        "/webhooks/stripe": {
            "post": {
                "summary": "Stripe's signed events about the PaymentIntents of every seller's connected account",
                "description": (
                    "Authenticated by `Stripe-Signature` (HMAC-SHA256 under one of STRIPE_WEBHOOK_SECRETS, at most "
                    "300 s old), not by an API key. A redelivered event is acknowledged and changes nothing."
                ),
                "security": [],
                "parameters": [
                    {
                        "name": "Stripe-Signature",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string", "example": "t=1761134400,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd"},
                    }
                ],
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "required": ["id", "object", "type", "data"],
                            "properties": {
                                "id": {"type": "string", "example": "evt_3PqA1b2C3d4E5f6G"},
                                "object": {"const": "event"},
                                "type": {"type": "string", "example": "payment_intent.succeeded"},
                                "data": {"type": "object", "properties": {"object": {"type": "object"}}},
                            },
                        }
                    ),
                },
                "responses": {
                    "200": {"description": "received: applied, a duplicate, not one of ours, or not about a payment"},
                    "400": _error("`webhook_rejected`: a missing, forged or stale signature, or not a Stripe event"),
                    "404": _error("Stripe is not configured on this gateway"),
                    "413": _error("body too large"),
                },
            }
        },
    }
)

# --- CloudPayments' notifications (entrypoints/http/provider_webhooks/cloudpayments.py) -----------

# Fields arrive as form strings or JSON values alike, and one without an InvoiceId of ours is answered 10:
# nothing here is required or typed beyond what the endpoint itself refuses (a body that is not an object).
_CLOUDPAYMENTS_NOTIFICATION = {
    "type": "object",
    "properties": {
        "TransactionId": {"description": "CloudPayments' transaction", "example": 504},
        "Amount": {"description": "major units, e.g. roubles", "example": "1500.50"},
        "Currency": {"example": "RUB"},
        "InvoiceId": {"description": "the Paygate payment id; unknown or missing: code 10", "example": "pay_01JD8Z6Q"},
        "Status": {"example": "Completed"},
    },
}

PATHS.update(
    {
        "/webhooks/cloudpayments/{kind}": {
            "post": {
                "summary": "CloudPayments' notifications (Check, Pay, Fail, Confirm, Refund, Cancel), signed",
                "description": (
                    "Authenticated by `Content-HMAC` or `X-Content-HMAC`: base64(HMAC-SHA256(raw body, API secret of "
                    "the route of the payment named by InvoiceId)). Answered as CloudPayments expects: "
                    '`{"code": 0}`; 10 unknown invoice, 11 wrong amount, 13 the payment takes no more money, '
                    "20 expired. Check changes nothing; a redelivered notification changes nothing."
                ),
                "security": [],
                "parameters": [
                    {
                        "name": "kind",
                        "in": "path",
                        "required": True,
                        "schema": {"enum": ["check", "pay", "fail", "confirm", "refund", "cancel"]},
                    },
                    {"name": "Content-HMAC", "in": "header", "required": False, "schema": {"type": "string"}},
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {"schema": _CLOUDPAYMENTS_NOTIFICATION},
                        JSON: {"schema": _CLOUDPAYMENTS_NOTIFICATION},
                    },
                },
                "responses": {
                    "200": {
                        "description": "CloudPayments' answer code",
                        **_json(
                            {
                                "type": "object",
                                "required": ["code"],
                                "properties": {"code": {"enum": [0, 10, 11, 13, 20]}},
                            }
                        ),
                    },
                    "400": _error("`invalid_signature` (forged, tampered or unsigned) or `invalid_notification`"),
                    "404": _error("not a notification kind"),
                    "413": _error("body too large"),
                },
            }
        },
    }
)


# Every operation written here reads or writes the database, and answers 503 `database_unavailable`
# while it is away (the declared ones say whether they do: `Operation.uses_database`).
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


def _with_database_outage(paths: dict[str, Any]) -> dict[str, Any]:
    """`paths` with the 503 of a database outage on every operation (new ones too)."""
    def operation(method: str, item: Any) -> Any:
        if method not in _METHODS:
            return item  # path-level `parameters`
        return {**item, "responses": {"503": DATABASE_UNAVAILABLE, **item["responses"]}}

    return {path: {method: operation(method, op) for method, op in item.items()} for path, item in paths.items()}


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
