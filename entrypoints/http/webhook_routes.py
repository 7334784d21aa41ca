"""Operator endpoints for outgoing webhooks: subscriptions, their deliveries, redelivery.

The signing secret appears once, in the answer that creates the subscription; never afterwards.
"""

from __future__ import annotations

import re
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from domain.access import ApiKey, Scope
from domain.webhooks import DELIVERY_FILTERS, DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookSubscription

from application.manage_webhooks import MAX_LIMIT, DeliveryRecord

from entrypoints.http.admin_shapes import (
    DeliveryAnswer,
    DeliveryAttemptResource,
    DeliveryList,
    DeliveryResource,
    NewWebhookBody,
    WebhookAnswer,
    WebhookCreated,
    WebhookList,
    WebhookResource,
)
from entrypoints.http.auth import authorize
from entrypoints.http.errors import AuthError
from entrypoints.http.json_body import BadRequest, decode, read_body
from entrypoints.http.operations import AUTH_ERRORS, BAD_INPUT, Operation, error
from entrypoints.http.responses import JsonResponse
from entrypoints.http.use_cases import use_cases

_ID_PATTERN = "^[A-Za-z0-9_]{1,64}$"
_ID = re.compile(_ID_PATTERN)


def subscription_resource(subscription: WebhookSubscription) -> WebhookResource:
    return WebhookResource(
        id=subscription.id,
        url=subscription.url,
        event_types=sorted(subscription.event_types),
        description=subscription.description,
        is_active=subscription.is_active,
        created_at=subscription.created_at.isoformat(),
        updated_at=subscription.updated_at.isoformat(),
    )


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def attempt_resource(attempt: DeliveryAttempt) -> DeliveryAttemptResource:
    return DeliveryAttemptResource(
        attempted_at=attempt.attempted_at.isoformat(),
        succeeded=attempt.succeeded,
        status_code=attempt.status_code,
        error=attempt.error,
        duration_ms=attempt.duration_ms,
    )


def delivery_resource(
    delivery: WebhookDelivery, attempts: list[DeliveryAttemptResource] | None = None
) -> DeliveryResource:
    """A delivery; `attempts` (every attempt, oldest first) where they were read."""
    return DeliveryResource(
        id=delivery.id,
        subscription_id=delivery.subscription_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        payment_id=delivery.payment_id,
        sequence=delivery.sequence,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=_time(delivery.next_attempt_at) if delivery.status is DeliveryStatus.PENDING else None,
        last_attempt_at=_time(delivery.last_attempt_at),
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        delivered_at=_time(delivery.delivered_at),
        created_at=delivery.created_at.isoformat(),
        attempt_log=attempts,
    )


def _record_resource(record: DeliveryRecord) -> DeliveryResource:
    return delivery_resource(record.delivery, [attempt_resource(a) for a in record.attempts])


async def _operator(request: Request) -> ApiKey:
    principal = await authorize(request, Scope.ADMIN)
    if principal.shops is not None:
        # Subscriptions hear about every shop's payments: not for a key that reaches only some.
        raise AuthError(403, "forbidden", "webhooks are managed with an admin key that reaches every shop")
    return principal


def _path_id(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    if not _ID.fullmatch(value):
        raise BadRequest("invalid_value", f"{name} is not a valid id", field=name)
    return value


def _query_id(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and not _ID.fullmatch(value):
        raise BadRequest("invalid_value", f"{name} is not a valid id", field=name)
    return value


async def create_webhook(request: Request) -> Response:
    principal = await _operator(request)
    body, _ = decode(await read_body(request), NewWebhookBody)
    # Not replayed through Idempotency-Key: a stored answer would keep the secret in the database.
    subscription, secret = await use_cases(request).manage_webhooks.add(
        url=body.url, event_types=body.event_types, description=body.description or "", actor=principal.name
    )
    return JsonResponse(WebhookCreated(webhook=subscription_resource(subscription), secret=secret), status_code=201)


async def list_webhooks(request: Request) -> Response:
    await _operator(request)
    subscriptions = await use_cases(request).manage_webhooks.list()
    return JsonResponse(WebhookList(webhooks=[subscription_resource(s) for s in subscriptions]))


async def delete_webhook(request: Request) -> Response:
    principal = await _operator(request)
    removed = await use_cases(request).manage_webhooks.remove(
        _path_id(request, "webhook_id"), actor=principal.name
    )
    return JsonResponse(WebhookAnswer(webhook=subscription_resource(removed)))


async def list_deliveries(request: Request) -> Response:
    await _operator(request)
    limit = request.query_params.get("limit", "100")
    if not (limit.isascii() and limit.isdigit() and len(limit) <= 6):
        raise BadRequest("invalid_value", "limit must be a positive integer", field="limit")
    status = request.query_params.get("status")
    records = await use_cases(request).manage_webhooks.deliveries(
        event_id=_query_id(request, "event_id"),
        subscription_id=_query_id(request, "webhook_id"),
        status=status,
        limit=int(limit),
    )
    return JsonResponse(DeliveryList(deliveries=[_record_resource(r) for r in records]))


async def redeliver(request: Request) -> Response:
    principal = await _operator(request)
    delivery = await use_cases(request).manage_webhooks.redeliver(
        _path_id(request, "delivery_id"), actor=principal.name
    )
    return JsonResponse(DeliveryAnswer(delivery=delivery_resource(delivery)))


_ID_SCHEMA = {"type": "string", "pattern": _ID_PATTERN}
_OPERATOR_ERRORS = {**AUTH_ERRORS, "403": error("the key lacks the admin scope, or reaches only some shops")}


def _path(name: str) -> dict[str, object]:
    return {"name": name, "in": "path", "required": True, "schema": _ID_SCHEMA}


operations = [
    Operation(
        "GET", "/admin/webhooks", list_webhooks, "Active webhook subscriptions (never their secrets)", WebhookList,
        responses=_OPERATOR_ERRORS,
    ),
    Operation(
        "POST", "/admin/webhooks", create_webhook,
        "Subscribe a URL to events; the answer holds its signing secret, shown once", WebhookCreated,
        status=201, body=NewWebhookBody,
        responses={
            **_OPERATOR_ERRORS,
            **BAD_INPUT,
            "422": error("invalid field, or `webhook_target_not_allowed` (field `url`): a target the rules refuse"),
        },
    ),
    Operation(
        "GET", "/admin/webhooks/deliveries", list_deliveries, "Deliveries with every attempt, newest first",
        DeliveryList,
        parameters=[
            {"name": "event_id", "in": "query", "required": False, "schema": _ID_SCHEMA},
            {"name": "webhook_id", "in": "query", "required": False, "schema": _ID_SCHEMA},
            {"name": "status", "in": "query", "required": False, "schema": {"enum": list(DELIVERY_FILTERS)}},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100}},
        ],
        responses={**_OPERATOR_ERRORS, "422": error("bad query")},
    ),
    Operation(
        "POST", "/admin/webhooks/deliveries/{delivery_id}/redeliver", redeliver,
        "Send the event again now, with a fresh retry schedule (dead-lettered and blocked ones too)", DeliveryAnswer,
        parameters=[_path("delivery_id")],
        responses={
            **_OPERATOR_ERRORS,
            "404": error("unknown delivery, or its subscription was deleted"),
            "422": error("bad id"),
        },
    ),
    Operation(
        "DELETE", "/admin/webhooks/{webhook_id}", delete_webhook,
        "Unsubscribe: nothing more is sent; what was still pending is cancelled", WebhookAnswer,
        parameters=[_path("webhook_id")],
        responses={**_OPERATOR_ERRORS, "404": error("unknown subscription"), "422": error("bad id")},
    ),
]
