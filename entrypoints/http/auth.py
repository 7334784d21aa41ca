"""Bearer API keys: who is calling, and may they do this."""

from __future__ import annotations

from starlette.requests import Request

from application.api_keys import ApiKeys
from application.ports import ApiKey
from entrypoints.http.errors import AuthError


async def authorize(request: Request, scope: str) -> ApiKey:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'")
    keys: ApiKeys = request.app.state.container.api_keys()
    key = await keys.authenticate(token.strip())
    if key is None:
        raise AuthError(401, "unauthorized", "the API key is unknown or revoked")
    if not key.allows(scope):
        raise AuthError(403, "forbidden", f"this API key lacks the {scope!r} scope")
    return key
