"""The one error map: every refusal becomes `{"success": false, "error": {code, message, field}}`."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from application import errors as app
from domain import errors as domain
from entrypoints.http.json_body import BadRequest
from entrypoints.http.responses import JsonResponse

log = logging.getLogger("paygate.http")

# Exception type → HTTP status; the stable error code comes from the exception itself.
STATUS_BY_ERROR: dict[type[Exception], int] = {
    domain.InvalidValue: 422,
    domain.CurrencyMismatch: 422,
    domain.RefundExceedsRemaining: 409,
    domain.PaymentNotRefundable: 409,
    domain.IllegalTransition: 409,
    app.ShopNotFound: 404,
    app.ShopInactive: 403,
    app.PaymentNotFound: 404,
    app.RouteMissingCredentials: 409,
    app.RouteAlreadyExists: 409,
    app.ProviderNotConfigured: 422,
    app.PaymentDeclined: 402,
    app.OperationInProgress: 409,
    app.ConcurrentUpdate: 409,
    app.DuplicateIdempotencyKey: 422,
}


class AuthError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_body(code: str, message: str, field: str | None = None) -> dict[str, object]:
    return {"success": False, "error": {"code": code, "message": message, "field": field}}


def error_response(exc: Exception) -> Response:
    """The response for any exception; unexpected ones are logged and answered 500 without details."""
    if isinstance(exc, BadRequest):
        return JsonResponse(error_body(exc.code, exc.message, exc.field), status_code=exc.status)
    if isinstance(exc, AuthError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JsonResponse(error_body(exc.code, exc.message), status_code=exc.status, headers=headers)
    if isinstance(exc, app.ProviderOutcomeUnknown):
        body = error_body(exc.code, exc.message)
        body["error"]["reference"] = exc.reference  # type: ignore[index]
        return JsonResponse(body, status_code=504 if exc.timed_out else 502)
    if isinstance(exc, HTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JsonResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)
    for kind, status in STATUS_BY_ERROR.items():
        if isinstance(exc, kind):
            field = getattr(exc, "field", None)
            return JsonResponse(error_body(exc.code, str(exc), field), status_code=status)  # type: ignore[attr-defined]
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
    HTTPException,
)
