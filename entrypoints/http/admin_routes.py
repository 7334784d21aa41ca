"""Operator endpoints: seller routes (the legacy `configs`) and the audit log. Never a credential.

These answer exactly as the service Paygate replaced did, for the tools written against it: a bare
list or object, `{"message"}` for a DELETE, 400 for a shop that already has a config. Bodies are
legacy bodies: numbers may come as numeric strings, unknown fields are ignored.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.audit import AuditEntry
from domain.identifiers import check_shop_id
from domain.seller_route import KASPI, SellerRoute

from application.errors import RouteAlreadyExists
from application.manage_routes import RouteChange, RouteSpec
from application.ports import Scope

from entrypoints.http.auth import authorize, require_shop
from entrypoints.http.idempotency import run_idempotently
from entrypoints.http.json_body import BadRequest, Body, read_body
from entrypoints.http.responses import JsonResponse

DEVICE_TOKEN = "device_token"


def config_view(route: SellerRoute) -> dict[str, Any]:
    return {
        "shop_id": route.shop_id,
        "organization_bin": route.merchant_account,
        "provider": route.provider,
        "is_active": route.is_active,
        "created_at": route.created_at.isoformat(),
        "updated_at": route.updated_at.isoformat(),
    }


def log_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "shop_id": entry.shop_id,
        "organization_bin": entry.organization_bin,
        "operation_type": entry.operation_type,
        "external_id": entry.external_id,
        "payment_id": entry.payment_id,
        "amount": entry.amount_minor,
        "currency": entry.currency,
        "status": entry.status.value,
        "error_message": entry.error_message,
        "provider": entry.provider,
        "actor": entry.actor,
        "source": entry.source,
        "observed_at": entry.observed_at.isoformat() if entry.observed_at else None,
        "refund_id": entry.refund_id,
        "created_at": entry.created_at.isoformat(),
    }


def _path_shop_id(request: Request) -> int:
    raw = request.path_params["shop_id"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise BadRequest("invalid_value", "shop_id must be a positive integer", field="shop_id")
    return check_shop_id(int(raw))


def _provider(body: Body) -> str:
    provider = body.string("provider", required=False, max_length=32) or KASPI
    if provider != KASPI:
        raise BadRequest("invalid_value", "configs are Kaspi routes: provider must be 'kaspi'", field="provider")
    return provider


def _credentials(body: Body) -> dict[str, str] | None:
    token = body.string(DEVICE_TOKEN, required=False, max_length=128)
    return None if token is None else {DEVICE_TOKEN: token}


async def list_configs(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    routes = await request.app.state.container.manage_routes().list(provider=KASPI)
    return JsonResponse([config_view(r) for r in routes if principal.reaches(r.shop_id)])


async def get_config(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    shop_id = require_shop(principal, _path_shop_id(request), KASPI)
    route = await request.app.state.container.manage_routes().get(shop_id, KASPI)
    return JsonResponse(config_view(route))


async def create_config(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    raw = await read_body(request)

    async def run(_key: str | None) -> Response:
        body = Body.parse(raw, legacy=True)
        spec = RouteSpec(
            shop_id=require_shop(principal, check_shop_id(body.integer("shop_id")), KASPI),
            merchant_account=body.string("organization_bin", max_length=12),  # type: ignore[arg-type]
            credentials=_credentials(body) or {},
            is_active=body.boolean("is_active", required=False) is not False,
            provider=_provider(body),
        )
        body.finish()
        try:
            route = await request.app.state.container.manage_routes().add(spec, actor=principal.name)
        except RouteAlreadyExists as exists:
            # The old service's answer, active or not: a deactivated shop comes back with PUT.
            raise BadRequest(exists.code, f"{exists.message}; change it with PUT", field="shop_id", status=400) from None
        return JsonResponse(config_view(route))  # 200, as the old service answered a create

    return await run_idempotently(request, principal, raw, run)


async def update_config(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    shop_id = require_shop(principal, _path_shop_id(request), KASPI)
    body = Body.parse(await read_body(request), legacy=True)
    change = RouteChange(
        merchant_account=body.string("organization_bin", required=False, max_length=12),
        credentials=_credentials(body),
        is_active=body.boolean("is_active", required=False),
    )
    _provider(body)
    body.finish()
    route = await request.app.state.container.manage_routes().change(shop_id, KASPI, change, actor=principal.name)
    return JsonResponse(config_view(route))


async def deactivate_config(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    route = await request.app.state.container.manage_routes().deactivate(
        require_shop(principal, _path_shop_id(request), KASPI), KASPI, actor=principal.name
    )
    # Deactivated, not deleted: its payments and audit entries keep their route; PUT re-activates.
    return JsonResponse({"message": f"config of shop {route.shop_id} deactivated"})


async def list_logs(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    shop = request.query_params.get("shop_id")
    limit = request.query_params.get("limit", "100")
    if shop is not None and not (shop.isascii() and shop.isdigit() and len(shop) <= 19):
        raise BadRequest("invalid_value", "shop_id must be a positive integer", field="shop_id")
    if not (limit.isascii() and limit.isdigit() and len(limit) <= 6):
        raise BadRequest("invalid_value", "limit must be a positive integer", field="limit")
    if shop is None and principal.shops is not None:
        raise BadRequest("missing_field", "this API key reaches only some shops: name one", field="shop_id")
    shop_id = None if shop is None else require_shop(principal, check_shop_id(int(shop)), KASPI)
    entries = await request.app.state.container.list_audit_log().execute(shop_id=shop_id, limit=int(limit))
    return JsonResponse([log_view(e) for e in entries])


routes = [
    Route("/admin/configs", list_configs, methods=["GET"]),
    Route("/admin/configs", create_config, methods=["POST"]),
    Route("/admin/configs/{shop_id}", get_config, methods=["GET"]),
    Route("/admin/configs/{shop_id}", update_config, methods=["PUT"]),
    Route("/admin/configs/{shop_id}", deactivate_config, methods=["DELETE"]),
    Route("/admin/logs", list_logs, methods=["GET"]),
]
