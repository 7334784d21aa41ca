"""`POST /webhooks/stripe`: Stripe's signed events, applied through the one status-change path.

Stripe calls without an API key; the signature is the authentication. A forged or stale request is
answered 400 and changes nothing. A redelivered event (Stripe retries for up to three days) is
acknowledged and ignored. Any other failure answers an error status, so Stripe delivers the event again.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from application.errors import WebhookRejected

from entrypoints.http.json_body import read_body
from entrypoints.http.responses import ok

log = logging.getLogger("paygate.webhooks.stripe")

# Stripe's event objects can be larger than an API request body (a PaymentIntent with its metadata).
MAX_EVENT_BYTES = 512 * 1024


async def receive(request: Request) -> Response:
    container = request.app.state.container
    if not container.settings().stripe_enabled:
        raise HTTPException(404, "Stripe is not configured on this gateway")
    body = await read_body(request, limit=MAX_EVENT_BYTES)
    try:
        notices = container.stripe_webhooks().notices(body, request.headers.get("stripe-signature"))
    except WebhookRejected as rejected:
        # A misconfigured signing secret shows up here first: every genuine event is refused too.
        log.warning("stripe webhook rejected: %s", rejected.reason)
        raise
    handle = container.handle_provider_notice()
    results = [await handle.execute(notice) for notice in notices]
    return ok({"received": True, "results": [result.value for result in results]})


routes: list[BaseRoute] = [Route("/webhooks/stripe", receive, methods=["POST"])]
