"""`Idempotency-Key` on POSTs: a replay gets the first response; a reuse with another body is refused.

Responses that may change on a retry (5xx, 409 conflicts, 429) are not stored: the key is released
and the retry runs again. The use cases keep their own idempotency (the payment or refund row holds
the key), so a released key never leads to a second provider call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from domain.access import ApiKey

from application.ports import IdempotencyState, StoredResponse

from entrypoints.http.errors import error_body, error_response
from entrypoints.http.json_body import BadRequest
from entrypoints.http.responses import JsonResponse
from entrypoints.http.use_cases import use_cases

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
_NOT_STORED = {409, 429}

Handler = Callable[[str | None], Awaitable[Response]]


def _fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.url.path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


async def run_idempotently(request: Request, principal: ApiKey, body: bytes, handler: Handler) -> Response:
    """Run `handler(scoped_key)`; the scoped key is None when the client sent no key."""
    key = request.headers.get(HEADER)
    if key is None:
        return await _answer(handler, None)
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise BadRequest(
            "invalid_idempotency_key", f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters", HEADER
        )
    core = use_cases(request)
    store, clock = core.idempotency_store, core.clock
    now = clock.now()
    scoped = f"{principal.id}:{key}"
    claim = await store.claim(scoped, _fingerprint(request, body), now)
    if claim.state is IdempotencyState.REPLAY:
        assert claim.response is not None
        return Response(
            claim.response.body,
            status_code=claim.response.status_code,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )
    if claim.state is IdempotencyState.MISMATCH:
        return JsonResponse(
            error_body("idempotency_key_reused", f"this {HEADER} was used with a different request", HEADER),
            status_code=422,
        )
    if claim.state is IdempotencyState.IN_PROGRESS:
        return JsonResponse(
            error_body("idempotency_request_in_progress", f"a request with this {HEADER} is still running", HEADER),
            status_code=409,
        )
    response = await _answer(handler, scoped)
    if response.status_code >= 500 or response.status_code in _NOT_STORED:
        await store.release(scoped)
    else:
        await store.complete(
            scoped, StoredResponse(response.status_code, bytes(response.body)), clock.now()
        )
    return response


async def _answer(handler: Handler, key: str | None) -> Response:
    try:
        return await handler(key)
    except Exception as exc:  # noqa: BLE001 - every refusal becomes its mapped response
        return error_response(exc)
