"""Bearer API keys: who is calling, how often, may they do this, and for which shops."""

from __future__ import annotations

from starlette.requests import Request

from application.api_keys import ApiKeys
from application.errors import ShopNotFound
from application.ports import ApiKey
from entrypoints.http.errors import AuthError, RateLimited
from entrypoints.http.observability import identify_caller


async def authorize(request: Request, scope: str) -> ApiKey:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'")
    container = request.app.state.container
    keys: ApiKeys = container.api_keys()
    key = await keys.authenticate(token.strip())
    if key is None:
        raise AuthError(401, "unauthorized", "the API key is unknown or revoked")
    identify_caller(request, key.name)
    # Counted before the scope check: a key hammering what it may not do is throttled as well.
    wait = await container.rate_limiter().acquire(key.id)
    if wait is not None:
        raise RateLimited(wait)
    if not key.allows(scope):
        raise AuthError(403, "forbidden", f"this API key lacks the {scope!r} scope")
    return key


def require_shop(principal: ApiKey, shop_id: int, provider: str) -> int:
    """`shop_id` if the key reaches it; another shop answers exactly as an unknown one (404), so
    a key cannot probe which shops exist."""
    if not principal.reaches(shop_id):
        raise ShopNotFound(shop_id, provider)
    return shop_id
