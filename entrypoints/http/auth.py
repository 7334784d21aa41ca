"""Bearer API keys: who is calling, how often, may they do this, and for which shops.

During a cut-over the old service's callers send no key at all: on the paths they call keyless
(`legacy=True`), a request without an `Authorization` header from `LEGACY_TRUSTED_NETWORKS` is the
built-in `legacy-network` caller. A key, when sent, always decides.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request

from domain.access import ApiKey, Scope

from application.errors import ShopNotFound

from entrypoints.http.client_address import client_address, within
from entrypoints.http.errors import AuthError, RateLimited
from entrypoints.http.observability import identify_caller
from entrypoints.http.use_cases import use_cases

LEGACY_CALLER = "legacy-network"
# What the known keyless callers do: create and read Kaspi payments, read a route's device token.
LEGACY_SCOPES = frozenset({Scope.PAYMENTS.value, Scope.ROUTE_SECRETS.value})


def _legacy_caller(request: Request) -> ApiKey | None:
    """The `legacy-network` caller when the request comes from a trusted legacy network, else None.

    Its name carries the source address, so audit entries and log lines say which machine it was.
    """
    settings = use_cases(request).settings
    if not settings.legacy_trusted_networks:
        return None
    source = client_address(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        settings.trusted_proxies,
    )
    if source is None or not within(source, settings.legacy_trusted_networks):
        return None
    return ApiKey(
        id=LEGACY_CALLER,
        name=f"{LEGACY_CALLER}@{source}",
        key_hash="",
        scopes=LEGACY_SCOPES,
        created_at=datetime(1970, 1, 1, tzinfo=UTC),
    )


def is_legacy_caller(principal: ApiKey) -> bool:
    return principal.id == LEGACY_CALLER


async def authorize(request: Request, scope: str, *, legacy: bool = False) -> ApiKey:
    """The caller of this request, refused (401/403/429) unless it may do `scope`.

    `legacy`: the path is one the old service's callers use without a key.
    """
    header = request.headers.get("authorization")
    if header is None and legacy:
        caller = _legacy_caller(request)
        if caller is not None:
            return await _admit(request, caller, scope)
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(401, "unauthorized", "send an API key as 'Authorization: Bearer <key>'")
    key = await use_cases(request).api_keys.authenticate(token.strip())
    if key is None:
        raise AuthError(401, "unauthorized", "the API key is unknown or revoked")
    return await _admit(request, key, scope)


async def admit(request: Request, key: ApiKey, scope: str) -> ApiKey:
    """`key` (already identified: a console session's) refused (403/429) unless it may do `scope` now."""
    return await _admit(request, key, scope)


async def _admit(request: Request, key: ApiKey, scope: str) -> ApiKey:
    identify_caller(request, key.name)
    # Counted before the scope check: a key hammering what it may not do is throttled as well.
    wait = await use_cases(request).rate_limiter.acquire(key.id)
    if wait is not None:
        raise RateLimited(wait)
    if not key.allows(scope):
        raise AuthError(403, "forbidden", f"this API key lacks the {scope!r} scope")
    return key


def require_every_shop(principal: ApiKey, what: str) -> ApiKey:
    """Refused (403) unless the key reaches every shop: `what` concerns them all (webhooks, keys, lost answers)."""
    if principal.shops is not None:
        raise AuthError(403, "forbidden", f"{what} need an API key that reaches every shop")
    return principal


def require_shop(principal: ApiKey, shop_id: int, provider: str) -> int:
    """`shop_id` if the key reaches it; another shop answers exactly as an unknown one (404), so
    a key cannot probe which shops exist."""
    if not principal.reaches(shop_id):
        raise ShopNotFound(shop_id, provider)
    return shop_id
