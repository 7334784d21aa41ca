"""`POST /webhooks/yookassa`: YooKassa's notifications, which are unsigned and so only a reason to look.

A notification is accepted only from YooKassa's networks (YOOKASSA_WEBHOOK_NETWORKS, the sender's
address taken through TRUSTED_PROXIES), and even then it changes nothing by itself: the payment (or,
for `refund.succeeded`, the refund) is fetched again from YooKassa's API, and only what the API says
goes through the one status-change path. Accepted: 200. Refused: 403 from anywhere else, 400 for a
body that is not a notification; neither changes anything.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from application.ports import ProviderNotice, RefundNotice

from adapters.providers.yookassa import wire

from entrypoints.http.client_address import client_address, within
from entrypoints.http.errors import AuthError
from entrypoints.http.json_body import BadRequest, read_body
from entrypoints.http.responses import ok

log = logging.getLogger("paygate.webhooks.yookassa")


async def notification(request: Request) -> Response:
    container = request.app.state.container
    settings = container.settings()
    if not settings.yookassa_enabled:
        raise HTTPException(404, "YooKassa is not configured on this gateway")
    source = client_address(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        settings.trusted_proxies,
    )
    if source is None or not within(source, settings.yookassa_webhook_networks):
        log.warning("yookassa notification refused: %s is not in YooKassa's networks", source or "an unknown address")
        raise AuthError(
            403, "webhook_source_not_allowed", "YooKassa notifications are accepted from YooKassa's networks only"
        )
    try:
        notice = wire.read_notification(await read_body(request))
    except wire.NotificationUnreadable as unreadable:
        raise BadRequest("invalid_notification", f"not a YooKassa notification: {unreadable}", status=400) from None
    if not notice.about_payment and not notice.about_refund:
        return ok({"result": "ignored"})  # payouts, deals: nothing of ours
    # No event id: YooKassa gives none, and each notification costs one status call, so a repeated
    # one is simply looked up again rather than remembered. Without `observed` the payment or
    # refund is fetched from YooKassa before anything changes: the notification is only a hint.
    hint = (
        ProviderNotice(provider=wire.NAME, external_id=notice.object_id)
        if notice.about_payment
        else RefundNotice(provider=wire.NAME, external_id=notice.object_id)
    )
    result = await container.handle_provider_notice().execute(hint)
    log.info("yookassa notification %s for %s from %s: %s", notice.event, notice.object_id, source, result.value)
    return ok({"result": result.value})


routes: list[BaseRoute] = [Route("/webhooks/yookassa", notification, methods=["POST"])]
