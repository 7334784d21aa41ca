"""The one error map: every refusal becomes `{"success": false, "error": {code, message, field}}`."""

from __future__ import annotations

import logging
import math
from contextvars import ContextVar
from typing import Annotated, Literal

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from domain import errors as domain

from application import errors as app

from entrypoints.http.json_body import BadRequest
from entrypoints.http.responses import JsonResponse

log = logging.getLogger("paygate.http")

# Exception type → HTTP status; the stable error code comes from the exception itself.
STATUS_BY_ERROR: dict[type[domain.DomainError | app.ApplicationError], int] = {
    domain.InvalidValue: 422,
    domain.CurrencyMismatch: 422,
    domain.RefundExceedsRemaining: 409,
    domain.PaymentNotRefundable: 409,
    domain.IllegalTransition: 409,
    app.ShopNotFound: 404,
    app.ShopInactive: 403,
    app.PaymentNotFound: 404,
    app.RefundNotFound: 404,
    app.RefundNotAttachable: 409,
    app.RouteMissingCredentials: 409,
    app.RouteAlreadyExists: 409,
    app.ProviderNotConfigured: 422,
    app.PaymentDeclined: 402,
    app.OperationInProgress: 409,
    app.ConcurrentUpdate: 409,
    app.DuplicateIdempotencyKey: 422,
    # What the provider cannot do whatever the payment's state (capture at Kaspi): the request,
    # not the moment, is wrong, so 422 like any other invalid request rather than 409.
    app.CapabilityNotSupported: 422,
    app.PaymentNotCapturable: 409,
    app.PaymentNotCancellable: 409,
    app.StatusNotConfirmed: 409,
    app.ApiKeyNotFound: 404,
    app.WebhookNotFound: 404,
    app.DeliveryNotFound: 404,
    # A provider webhook that fails its signature or age check: the provider's own retries never pass it.
    app.WebhookRejected: 400,
    # The server cannot open a stored secret (SECRETS_KEY changed): nothing the client can fix.
    app.SecretUnreadable: 503,
}


# How long a client should wait before retrying while the database is away (a restart takes seconds).
STORAGE_RETRY_AFTER_SECONDS = 2


class AuthError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class RateLimited(Exception):
    """The API key used up its allowance; `retry_after` seconds until the next request would pass."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("rate limit exceeded")
        self.retry_after = retry_after


# The old service's paths: tools written against it read an error's `detail`, beside Paygate's `error`.
LEGACY_PATHS = ("/payments/kaspi/", "/api/payment/", "/admin/configs", "/admin/logs")
legacy_error_shape: ContextVar[bool] = ContextVar("legacy_error_shape", default=False)


class Refusal(msgspec.Struct, frozen=True, omit_defaults=True):
    code: Annotated[str, msgspec.Meta(examples=["shop_not_found"])]
    message: str
    field: str | None
    reference: Annotated[str | None, msgspec.Meta(description="the pending payment or refund")] = None


class Error(msgspec.Struct, frozen=True, omit_defaults=True):
    """Every refusal's body (`operations.error` names it for each operation's refusals)."""

    success: Literal[False]
    error: Refusal
    detail: Annotated[
        str | None, msgspec.Meta(description="the message again, on the old service's paths (its error shape)")
    ] = None


def error_body(code: str, message: str, field: str | None = None, *, reference: str | None = None) -> Error:
    detail = message if legacy_error_shape.get() else None
    return Error(False, Refusal(code, message, field, reference), detail)


def error_response(exc: Exception) -> Response:
    """The response for any exception; unexpected ones are logged and answered 500 without details."""
    if isinstance(exc, BadRequest):
        return JsonResponse(error_body(exc.code, exc.message, exc.field), status_code=exc.status)
    if isinstance(exc, AuthError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JsonResponse(error_body(exc.code, exc.message), status_code=exc.status, headers=headers)
    if isinstance(exc, RateLimited):
        # Whole seconds, never 0: a client told to retry at once would only be refused again.
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
        message = "too many requests for this API key; retry after the Retry-After seconds"
        return JsonResponse(error_body("rate_limited", message), status_code=429, headers=headers)
    if isinstance(exc, app.ProviderOutcomeUnknown):
        body = error_body(exc.code, exc.message, reference=exc.reference)
        return JsonResponse(body, status_code=504 if exc.timed_out else 502)
    if isinstance(exc, app.PaymentDeclined):
        # The declined payment or refund exists (failed): its id lets the client look it up.
        body = error_body(exc.code, exc.message, reference=exc.reference)
        return JsonResponse(body, status_code=402)
    if isinstance(exc, app.StorageUnavailable):
        # Logged without a traceback: an outage is an operations event, not a bug.
        log.warning("database unavailable: %s", exc.reason)
        headers = {"Retry-After": str(STORAGE_RETRY_AFTER_SECONDS)}
        return JsonResponse(error_body(exc.code, exc.message), status_code=503, headers=headers)
    if isinstance(exc, HTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JsonResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)
    for kind, status in STATUS_BY_ERROR.items():
        if isinstance(exc, kind):
            field = getattr(exc, "field", None)
            return JsonResponse(error_body(exc.code, str(exc), field), status_code=status)
    log.exception("unhandled error", exc_info=exc)
    return JsonResponse(error_body("internal_error", "internal error"), status_code=500)


async def handle(_request: Request, exc: Exception) -> Response:
    return error_response(exc)


# Handled inside the app (no traceback); anything else is a bug and goes to the 500 handler.
HANDLED: tuple[type[Exception], ...] = (
    domain.DomainError,
    app.ApplicationError,
    BadRequest,
    AuthError,
    RateLimited,
    HTTPException,
)
