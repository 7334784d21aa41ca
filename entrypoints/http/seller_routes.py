"""Seller routes of every provider, for operators: credentials go in and never come back out."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from domain.access import ApiKey, Scope
from domain.identifiers import MAX_SHOP_ID, check_shop_id
from domain.seller_route import SellerRoute

from application.manage_routes import RouteChange, RouteSpec

from entrypoints.http.admin_shapes import (
    PROVIDER_PATTERN,
    NewRouteBody,
    RouteChangeBody,
    RouteList,
    RouteResource,
)
from entrypoints.http.auth import authorize, require_shop
from entrypoints.http.idempotency import run_idempotently
from entrypoints.http.json_body import BadRequest, decode, read_body
from entrypoints.http.operations import AUTH_ERRORS, BAD_INPUT, IDEMPOTENCY_HEADER, Operation, error
from entrypoints.http.responses import JsonResponse
from entrypoints.http.use_cases import use_cases

_PROVIDER = re.compile(PROVIDER_PATTERN)


def route_resource(route: SellerRoute) -> RouteResource:
    """A route as operators see it: which credentials are set, never their values."""
    return RouteResource(
        shop_id=route.shop_id,
        provider=route.provider,
        merchant_account=route.merchant_account,
        credential_names=sorted(name for name, value in route.credentials.values.items() if value),
        is_active=route.is_active,
        is_default=route.is_default,
        created_at=route.created_at.isoformat(),
        updated_at=route.updated_at.isoformat(),
    )


def _check_provider(value: str | None, field: str = "provider") -> str:
    if value is None or not _PROVIDER.fullmatch(value):
        raise BadRequest("invalid_value", "provider is a provider name such as kaspi or stripe", field=field)
    return value


def _path_route(request: Request, principal: ApiKey) -> tuple[int, str]:
    provider = _check_provider(request.path_params["provider"])
    raw = request.path_params["shop_id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19):
        raise BadRequest("invalid_value", "shop_id must be a positive integer", field="shop_id")
    return require_shop(principal, check_shop_id(int(raw)), provider), provider


async def list_routes(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    query = request.query_params
    for name in query:
        if name not in {"shop_id", "provider"}:
            raise BadRequest("unknown_field", f"unknown query parameter {name!r}", field=name)
    shop = query.get("shop_id")
    if shop is not None and not (shop.isascii() and shop.isdigit() and len(shop) <= 19):
        raise BadRequest("invalid_value", "shop_id must be a positive integer", field="shop_id")
    provider = query.get("provider")
    routes = await use_cases(request).manage_routes.list(
        provider=None if provider is None else _check_provider(provider),
        shop_id=None if shop is None else check_shop_id(int(shop)),
    )
    return JsonResponse(RouteList([route_resource(r) for r in routes if principal.reaches(r.shop_id)]))


async def get_route(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    shop_id, provider = _path_route(request, principal)
    route = await use_cases(request).manage_routes.get(shop_id, provider)
    return JsonResponse(route_resource(route))


async def create_route(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    raw = await read_body(request)

    async def run(_key: str | None) -> Response:
        body, _ = decode(raw, NewRouteBody)
        provider = _check_provider(body.provider)
        spec = RouteSpec(
            shop_id=require_shop(principal, body.shop_id, provider),
            provider=provider,
            merchant_account=body.merchant_account,
            credentials=body.credentials or {},
            is_active=body.is_active is not False,
            is_default=body.is_default is True,
        )
        route = await use_cases(request).manage_routes.add(spec, actor=principal.name)
        return JsonResponse(route_resource(route), status_code=201)

    return await run_idempotently(request, principal, raw, run)


async def update_route(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    shop_id, provider = _path_route(request, principal)
    body, _ = decode(await read_body(request), RouteChangeBody)
    change = RouteChange(
        merchant_account=body.merchant_account,
        credentials=body.credentials,
        is_active=body.is_active,
        is_default=body.is_default,
    )
    route = await use_cases(request).manage_routes.change(shop_id, provider, change, actor=principal.name)
    return JsonResponse(route_resource(route))


async def deactivate_route(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    shop_id, provider = _path_route(request, principal)
    route = await use_cases(request).manage_routes.deactivate(shop_id, provider, actor=principal.name)
    return JsonResponse(route_resource(route))


_SHOP_ID = {"type": "integer", "minimum": 1, "maximum": MAX_SHOP_ID, "example": 121038}
_PROVIDER_NAME = {"type": "string", "pattern": PROVIDER_PATTERN, "example": "kaspi"}
_ROUTE_PATH = [
    {"name": "shop_id", "in": "path", "required": True, "schema": _SHOP_ID},
    {"name": "provider", "in": "path", "required": True, "schema": _PROVIDER_NAME},
]
_NO_ROUTE = error("no such route (or one of a shop the key does not reach)")

operations = [
    Operation(
        "GET", "/admin/routes", list_routes, "Seller routes of every provider (credential names only)", RouteList,
        parameters=[
            {"name": "shop_id", "in": "query", "required": False, "schema": _SHOP_ID},
            {"name": "provider", "in": "query", "required": False, "schema": _PROVIDER_NAME},
        ],
        responses={**AUTH_ERRORS, "422": error("bad query")},
    ),
    Operation(
        "POST", "/admin/routes", create_route,
        "Add a seller's route to its own account at a provider (one per shop and provider)", RouteResource,
        status=201, body=NewRouteBody, parameters=[IDEMPOTENCY_HEADER],
        responses={
            **AUTH_ERRORS,
            **BAD_INPUT,
            "404": error("a shop the key does not reach"),
            "409": error("route_exists"),
            "422": error("invalid field, unknown credential name, or provider_not_configured"),
        },
    ),
    Operation(
        "GET", "/admin/routes/{shop_id}/{provider}", get_route, "One route", RouteResource,
        parameters=_ROUTE_PATH, responses={**AUTH_ERRORS, "404": _NO_ROUTE, "422": error("bad path")},
    ),
    Operation(
        "PUT", "/admin/routes/{shop_id}/{provider}", update_route,
        "Change a route; credentials are merged, `is_default: true` unsets the shop's other default", RouteResource,
        body=RouteChangeBody, parameters=_ROUTE_PATH,
        responses={**AUTH_ERRORS, **BAD_INPUT, "404": _NO_ROUTE},
    ),
    Operation(
        "DELETE", "/admin/routes/{shop_id}/{provider}", deactivate_route,
        "Deactivate a route (kept for the audit trail)", RouteResource,
        parameters=_ROUTE_PATH, responses={**AUTH_ERRORS, "404": _NO_ROUTE, "422": error("bad path")},
    ),
]
