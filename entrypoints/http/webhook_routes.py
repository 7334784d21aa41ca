"""Operator endpoints for outgoing webhooks: subscriptions, their deliveries, redelivery.

The signing secret appears once, in the answer that creates the subscription; never afterwards.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.webhooks import DeliveryAttempt, WebhookDelivery, WebhookSubscription

from application.manage_webhooks import DeliveryRecord
from application.ports import ApiKey, Scope

from entrypoints.http.auth import authorize
from entrypoints.http.errors import AuthError
from entrypoints.http.json_body import BadRequest, Body, read_body
from entrypoints.http.responses import ok

_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def subscription_view(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "url": subscription.url,
        "event_types": sorted(t.value for t in subscription.event_types),
        "description": subscription.description,
        "is_active": subscription.is_active,
        "created_at": subscription.created_at.isoformat(),
        "updated_at": subscription.updated_at.isoformat(),
    }


def _time(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat()


def attempt_view(attempt: DeliveryAttempt) -> dict[str, Any]:
    return {
        "attempted_at": attempt.attempted_at.isoformat(),
        "succeeded": attempt.succeeded,
        "status_code": attempt.status_code,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
    }


def delivery_view(delivery: WebhookDelivery, attempts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": delivery.id,
        "subscription_id": delivery.subscription_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "payment_id": delivery.payment_id,
        "sequence": delivery.sequence,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "next_attempt_at": _time(delivery.next_attempt_at) if delivery.status.value == "pending" else None,
        "last_attempt_at": _time(delivery.last_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "delivered_at": _time(delivery.delivered_at),
        "created_at": delivery.created_at.isoformat(),
    }
    if attempts is not None:
        view["attempt_log"] = attempts
    return view


def _record_view(record: DeliveryRecord) -> dict[str, Any]:
    return delivery_view(record.delivery, [attempt_view(a) for a in record.attempts])


async def _operator(request: Request) -> ApiKey:
    principal = await authorize(request, Scope.ADMIN)
    if principal.shops is not None:
        # Subscriptions hear about every shop's payments: not for a key that reaches only some.
        raise AuthError(403, "forbidden", "webhooks are managed with an admin key that reaches every shop")
    return principal


def _path_id(request: Request, name: str) -> str:
    value = request.path_params[name]
    if not _ID.match(value):
        raise BadRequest("invalid_value", f"{name} is not a valid id", field=name)
    return value


def _query_id(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and not _ID.match(value):
        raise BadRequest("invalid_value", f"{name} is not a valid id", field=name)
    return value


async def create_webhook(request: Request) -> Response:
    principal = await _operator(request)
    body = Body.parse(await read_body(request))
    url = body.string("url", max_length=2048)
    event_types = body.string_list("event_types", required=False)
    description = body.string("description", required=False) or ""
    body.finish()
    # Not replayed through Idempotency-Key: a stored answer would keep the secret in the database.
    subscription, secret = await request.app.state.container.manage_webhooks().add(
        url=url or "", event_types=event_types, description=description, actor=principal.name
    )
    return ok({"webhook": subscription_view(subscription), "secret": secret}, status=201)


async def list_webhooks(request: Request) -> Response:
    await _operator(request)
    subscriptions = await request.app.state.container.manage_webhooks().list()
    return ok({"webhooks": [subscription_view(s) for s in subscriptions]})


async def delete_webhook(request: Request) -> Response:
    principal = await _operator(request)
    removed = await request.app.state.container.manage_webhooks().remove(
        _path_id(request, "webhook_id"), actor=principal.name
    )
    return ok({"webhook": subscription_view(removed)})


async def list_deliveries(request: Request) -> Response:
    await _operator(request)
    limit = request.query_params.get("limit", "100")
    if not (limit.isascii() and limit.isdigit() and len(limit) <= 6):
        raise BadRequest("invalid_value", "limit must be a positive integer", field="limit")
    status = request.query_params.get("status")
    records = await request.app.state.container.manage_webhooks().deliveries(
        event_id=_query_id(request, "event_id"),
        subscription_id=_query_id(request, "webhook_id"),
        status=status,
        limit=int(limit),
    )
    return ok({"deliveries": [_record_view(r) for r in records]})


async def redeliver(request: Request) -> Response:
    principal = await _operator(request)
    delivery = await request.app.state.container.manage_webhooks().redeliver(
        _path_id(request, "delivery_id"), actor=principal.name
    )
    return ok({"delivery": delivery_view(delivery)})


routes = [
    Route("/admin/webhooks", list_webhooks, methods=["GET"]),
    Route("/admin/webhooks", create_webhook, methods=["POST"]),
    Route("/admin/webhooks/deliveries", list_deliveries, methods=["GET"]),
    Route("/admin/webhooks/deliveries/{delivery_id}/redeliver", redeliver, methods=["POST"]),
    Route("/admin/webhooks/{webhook_id}", delete_webhook, methods=["DELETE"]),
]
