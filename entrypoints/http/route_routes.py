"""Seller routes of every provider, for operators: credentials go in and never come back out."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.identifiers import check_shop_id
from domain.seller_route import SellerRoute

from application.manage_routes import RouteChange, RouteSpec
from application.ports import ApiKey, Scope

from entrypoints.http.auth import authorize, require_shop
from entrypoints.http.idempotency import run_idempotently
from entrypoints.http.json_body import BadRequest, Body, read_body
from entrypoints.http.responses import JsonResponse

_PROVIDER = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_ACCOUNT = 128


def route_view(route: SellerRoute) -> dict[str, Any]:
    """A route as operators see it: which credentials are set, never their values."""
    return {
        "shop_id": route.shop_id,
        "provider": route.provider,
        "merchant_account": route.merchant_account,
        "credential_names": sorted(name for name, value in route.credentials.values.items() if value),
        "is_active": route.is_active,
        "is_default": route.is_default,
        "created_at": route.created_at.isoformat(),
        "updated_at": route.updated_at.isoformat(),
    }


def _check_provider(value: str | None, field: str = "provider") -> str:
    if value is None or not _PROVIDER.match(value):
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
    routes = await request.app.state.container.manage_routes().list(
        provider=None if provider is None else _check_provider(provider),
        shop_id=None if shop is None else check_shop_id(int(shop)),
    )
    return JsonResponse({"data": [route_view(r) for r in routes if principal.reaches(r.shop_id)]})


async def get_route(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    shop_id, provider = _path_route(request, principal)
    route = await request.app.state.container.manage_routes().get(shop_id, provider)
    return JsonResponse(route_view(route))


async def create_route(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    raw = await read_body(request)

    async def run(_key: str | None) -> Response:
        body = Body.parse(raw)
        provider = _check_provider(body.string("provider", max_length=32))
        spec = RouteSpec(
            shop_id=require_shop(principal, check_shop_id(body.integer("shop_id")), provider),
            provider=provider,
            merchant_account=body.string("merchant_account", max_length=MAX_ACCOUNT),  # type: ignore[arg-type]
            credentials=body.string_map("credentials", required=False) or {},
            is_active=body.boolean("is_active", required=False) is not False,
            is_default=body.boolean("is_default", required=False) is True,
        )
        body.finish()
        route = await request.app.state.container.manage_routes().add(spec, actor=principal.name)
        return JsonResponse(route_view(route), status_code=201)

    return await run_idempotently(request, principal, raw, run)


async def update_route(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    shop_id, provider = _path_route(request, principal)
    body = Body.parse(await read_body(request))
    change = RouteChange(
        merchant_account=body.string("merchant_account", required=False, max_length=MAX_ACCOUNT),
        credentials=body.string_map("credentials", required=False),
        is_active=body.boolean("is_active", required=False),
        is_default=body.boolean("is_default", required=False),
    )
    body.finish()
    route = await request.app.state.container.manage_routes().change(shop_id, provider, change, actor=principal.name)
    return JsonResponse(route_view(route))


async def deactivate_route(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    shop_id, provider = _path_route(request, principal)
    route = await request.app.state.container.manage_routes().deactivate(shop_id, provider, actor=principal.name)
    return JsonResponse(route_view(route))


routes = [
    Route("/admin/routes", list_routes, methods=["GET"]),
    Route("/admin/routes", create_route, methods=["POST"]),
    Route("/admin/routes/{shop_id}/{provider}", get_route, methods=["GET"]),
    Route("/admin/routes/{shop_id}/{provider}", update_route, methods=["PUT"]),
    Route("/admin/routes/{shop_id}/{provider}", deactivate_route, methods=["DELETE"]),
]
