"""`POST /webhooks/stripe`: Stripe's signed events, applied through the one status-change path.

Stripe calls without an API key; the signature is the authentication. A forged or stale request is
answered 400 and changes nothing. A redelivered event (Stripe retries for up to three days) is
acknowledged and ignored. Any other failure answers an error status, so Stripe delivers the event again.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from application.errors import WebhookRejected
from application.provider_notices import NoticeResult

from entrypoints.http.json_body import read_body
from entrypoints.http.operations import Operation, error
from entrypoints.http.responses import JsonResponse
from entrypoints.http.use_cases import use_cases

log = logging.getLogger("paygate.webhooks.stripe")

# Stripe's event objects can be larger than an API request body (a PaymentIntent with its metadata).
MAX_EVENT_BYTES = 512 * 1024


class StripeEventData(msgspec.Struct, frozen=True):
    object: Annotated[
        dict[str, Any],
        msgspec.Meta(description="the resource the event is about, as it stood (a PaymentIntent, a Refund, ...)"),
    ]
    previous_attributes: dict[str, Any] | None = None


class StripeEventRequest(msgspec.Struct, frozen=True):
    id: str | None = None
    idempotency_key: str | None = None


class StripeEvent(msgspec.Struct, frozen=True):
    """Stripe's Event object (https://docs.stripe.com/api/events/object), as Stripe sends it: read and
    checked by the adapter (`adapters/providers/stripe/webhooks.py`) after its signature, never here."""

    id: Annotated[str, msgspec.Meta(examples=["evt_3PqA1b2C3d4E5f6G"])]
    object: Literal["event"]
    type: Annotated[str, msgspec.Meta(examples=["payment_intent.succeeded", "refund.updated"])]
    data: StripeEventData
    account: Annotated[str, msgspec.Meta(description="the seller's connected account (Connect)")] | None = None
    api_version: str | None = None
    created: Annotated[int, msgspec.Meta(description="seconds since the Unix epoch")] | None = None
    livemode: bool | None = None
    pending_webhooks: int | None = None
    request: StripeEventRequest | None = None


class StripeEventsReceived(msgspec.Struct, frozen=True, kw_only=True):
    success: Literal[True] = True
    received: Literal[True] = True
    results: Annotated[list[NoticeResult], msgspec.Meta(description="what each notice of the event did")]


async def receive(request: Request) -> Response:
    cases = use_cases(request)
    if not cases.settings.stripe_enabled:
        raise HTTPException(404, "Stripe is not configured on this gateway")
    body = await read_body(request, limit=MAX_EVENT_BYTES)
    try:
        notices = cases.stripe_webhooks.notices(body, request.headers.get("stripe-signature"))
    except WebhookRejected as rejected:
        # A misconfigured signing secret shows up here first: every genuine event is refused too.
        log.warning("stripe webhook rejected: %s", rejected.reason)
        raise
    handle = cases.handle_provider_notice
    results = [await handle.execute(notice) for notice in notices]
    return JsonResponse(StripeEventsReceived(results=results))


operations = [
    Operation(
        "POST", "/webhooks/stripe", receive,
        "Stripe's signed events about the PaymentIntents of every seller's connected account", StripeEventsReceived,
        description=(
            "Authenticated by `Stripe-Signature` (HMAC-SHA256 under one of STRIPE_WEBHOOK_SECRETS, at most "
            "300 s old), not by an API key. A redelivered event is acknowledged and changes nothing; an event "
            "about anything else, or not one of ours, is acknowledged and ignored."
        ),
        body=StripeEvent,
        public=True,
        parameters=[
            {
                "name": "Stripe-Signature",
                "in": "header",
                "required": True,
                "schema": {
                    "type": "string",
                    "example": "t=1761134400,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
                },
            }
        ],
        responses={
            "400": error("`webhook_rejected`: a missing, forged or stale signature, or not a Stripe event"),
            "404": error("Stripe is not configured on this gateway"),
            "413": error("body too large"),
        },
    ),
]
