"""`POST /webhooks/yookassa`: YooKassa's notifications, which are unsigned and so only a reason to look.

A notification is accepted only from YooKassa's networks (YOOKASSA_WEBHOOK_NETWORKS, the sender's
address taken through TRUSTED_PROXIES), and even then it changes nothing by itself: the payment (or,
for `refund.succeeded`, the refund) is fetched again from YooKassa's API, and only what the API says
goes through the one status-change path. Accepted: 200. Refused: 403 from anywhere else, 400 for a
body that is not a notification; neither changes anything.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from application.ports import ProviderNotice, RefundNotice
from application.provider_notices import NoticeResult

from adapters.providers.yookassa import wire

from entrypoints.http.client_address import client_address, within
from entrypoints.http.errors import AuthError
from entrypoints.http.json_body import BadRequest, read_body
from entrypoints.http.operations import Operation, error
from entrypoints.http.responses import JsonResponse
from entrypoints.http.use_cases import use_cases

log = logging.getLogger("paygate.webhooks.yookassa")

IGNORED = "ignored"


class YooKassaObject(msgspec.Struct, frozen=True):
    """The payment or refund (or payout, deal...) the notification is about, as YooKassa sent it."""

    id: Annotated[str, msgspec.Meta(examples=["2d9c7e6b-000f-5000-9000-1b68e7b15f3f"])]
    status: Annotated[str, msgspec.Meta(examples=["succeeded"])] | None = None


class YooKassaNotification(msgspec.Struct, frozen=True):
    """YooKassa's notification (https://yookassa.ru/developers/using-api/webhooks): read by the adapter
    (`adapters/providers/yookassa/wire.py`); only its `object.id` is used, to fetch the object again."""

    type: Literal["notification"]
    event: Annotated[
        str, msgspec.Meta(examples=["payment.succeeded", "payment.waiting_for_capture", "refund.succeeded"])
    ]
    object: YooKassaObject


class YooKassaNoticeHandled(msgspec.Struct, frozen=True, kw_only=True):
    success: Literal[True] = True
    result: Annotated[
        str,
        msgspec.Meta(
            description="`ignored`: not about a payment or refund (payouts, deals); otherwise what the fetch did",
            extra_json_schema={"enum": [IGNORED, *(result.value for result in NoticeResult)]},
        ),
    ]


async def notification(request: Request) -> Response:
    cases = use_cases(request)
    settings = cases.settings
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
        return JsonResponse(YooKassaNoticeHandled(result=IGNORED))  # payouts, deals: nothing of ours
    # No event id: YooKassa gives none, and each notification costs one status call, so a repeated
    # one is simply looked up again rather than remembered. Without `observed` the payment or
    # refund is fetched from YooKassa before anything changes: the notification is only a hint.
    hint = (
        ProviderNotice(provider=wire.NAME, external_id=notice.object_id)
        if notice.about_payment
        else RefundNotice(provider=wire.NAME, external_id=notice.object_id)
    )
    result = await cases.handle_provider_notice.execute(hint)
    log.info("yookassa notification %s for %s from %s: %s", notice.event, notice.object_id, source, result.value)
    return JsonResponse(YooKassaNoticeHandled(result=result.value))


operations = [
    Operation(
        "POST", "/webhooks/yookassa", notification,
        "YooKassa's notifications: taken from YooKassa's networks only, then checked with its API",
        YooKassaNoticeHandled,
        description=(
            "Unsigned, so only a hint: the payment is fetched again from YooKassa before anything changes. "
            "The sender's address is the connecting one, or behind TRUSTED_PROXIES the forwarded one."
        ),
        body=YooKassaNotification,
        public=True,
        responses={
            "400": error("not a YooKassa notification"),
            "403": error("not from YooKassa's networks (webhook_source_not_allowed)"),
            "404": error("YooKassa is not configured on this gateway"),
            "413": error("body too large"),
        },
    ),
]
