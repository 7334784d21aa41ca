"""Operator endpoints: seller routes (the legacy `configs`) and the audit log. Never a credential.

These answer exactly as the service Paygate replaced did, for the tools written against it: a bare
list or object, `{"message"}` for a DELETE, 400 for a shop that already has a config. Bodies are
legacy bodies: numbers may come as numeric strings, unknown fields are ignored.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from domain.access import Scope
from domain.audit import AuditEntry
from domain.identifiers import check_shop_id
from domain.seller_route import KASPI, SellerRoute

from application.audit_log import MAX_LIMIT
from application.errors import RouteAlreadyExists
from application.manage_routes import RouteChange, RouteSpec

from entrypoints.http.admin_shapes import ShopId
from entrypoints.http.auth import authorize, require_shop
from entrypoints.http.idempotency import run_idempotently
from entrypoints.http.json_body import BadRequest, decode, legacy_integer, read_body
from entrypoints.http.legacy_shapes import (
    AuditLogEntry,
    Config,
    ConfigChangeBody,
    ConfigDeactivated,
    NewConfigBody,
)
from entrypoints.http.operations import (
    AUTH_ERRORS,
    BAD_INPUT,
    IDEMPOTENCY_HEADER,
    LEGACY_WRITE_ERRORS,
    Operation,
    error,
)
from entrypoints.http.responses import JsonResponse
from entrypoints.http.use_cases import use_cases

DEVICE_TOKEN = "device_token"


def _config(route: SellerRoute) -> Config:
    return Config(
        shop_id=route.shop_id,
        organization_bin=route.merchant_account,
        provider=route.provider,
        is_active=route.is_active,
        created_at=route.created_at.isoformat(),
        updated_at=route.updated_at.isoformat(),
    )


def _log_entry(entry: AuditEntry) -> AuditLogEntry:
    return AuditLogEntry(
        id=entry.id,
        shop_id=entry.shop_id,
        organization_bin=entry.organization_bin,
        operation_type=entry.operation_type,
        external_id=entry.external_id,
        payment_id=entry.payment_id,
        amount=entry.amount_minor,
        currency=entry.currency,
        status=entry.status,
        error_message=entry.error_message,
        provider=entry.provider,
        actor=entry.actor,
        source=entry.source,
        observed_at=entry.observed_at.isoformat() if entry.observed_at else None,
        refund_id=entry.refund_id,
        created_at=entry.created_at.isoformat(),
    )


def _path_shop_id(request: Request) -> int:
    raw = request.path_params["shop_id"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise BadRequest("invalid_value", "shop_id must be a positive integer", field="shop_id")
    return check_shop_id(int(raw))


def _check_provider(provider: str | None) -> None:
    if (provider or KASPI) != KASPI:
        raise BadRequest("invalid_value", "configs are Kaspi routes: provider must be 'kaspi'", field="provider")


def _credentials(token: str | None) -> dict[str, str] | None:
    return None if token is None else {DEVICE_TOKEN: token}


async def list_configs(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    routes = await use_cases(request).manage_routes.list(provider=KASPI)
    return JsonResponse([_config(r) for r in routes if principal.reaches(r.shop_id)])


async def get_config(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    shop_id = require_shop(principal, _path_shop_id(request), KASPI)
    route = await use_cases(request).manage_routes.get(shop_id, KASPI)
    return JsonResponse(_config(route))


async def create_config(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    raw = await read_body(request)

    async def run(_key: str | None) -> Response:
        body, _ = decode(raw, NewConfigBody, legacy=True)
        shop_id = require_shop(principal, check_shop_id(legacy_integer(body.shop_id, "shop_id")), KASPI)
        _check_provider(body.provider)
        spec = RouteSpec(
            shop_id=shop_id,
            merchant_account=body.organization_bin,
            credentials=_credentials(body.device_token) or {},
            is_active=body.is_active is not False,
            provider=KASPI,
        )
        try:
            route = await use_cases(request).manage_routes.add(spec, actor=principal.name)
        except RouteAlreadyExists as exists:
            # The old service's answer, active or not: a deactivated shop comes back with PUT.
            message = f"{exists.message}; change it with PUT"
            raise BadRequest(exists.code, message, field="shop_id", status=400) from None
        return JsonResponse(_config(route))  # 200, as the old service answered a create

    return await run_idempotently(request, principal, raw, run)


async def update_config(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    shop_id = require_shop(principal, _path_shop_id(request), KASPI)
    body, _ = decode(await read_body(request), ConfigChangeBody, legacy=True)
    change = RouteChange(
        merchant_account=body.organization_bin,
        credentials=_credentials(body.device_token),
        is_active=body.is_active,
    )
    _check_provider(body.provider)
    route = await use_cases(request).manage_routes.change(shop_id, KASPI, change, actor=principal.name)
    return JsonResponse(_config(route))


async def deactivate_config(request: Request) -> Response:
    principal = await authorize(request, Scope.ADMIN)
    route = await use_cases(request).manage_routes.deactivate(
        require_shop(principal, _path_shop_id(request), KASPI), KASPI, actor=principal.name
    )
    # Deactivated, not deleted: its payments and audit entries keep their route; PUT re-activates.
    return JsonResponse(ConfigDeactivated(f"config of shop {route.shop_id} deactivated"))


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
    entries = await use_cases(request).list_audit_log.execute(shop_id=shop_id, limit=int(limit))
    return JsonResponse([_log_entry(e) for e in entries])


_SHOP_ID = msgspec.json.schema(ShopId)
_SHOP_PATH = {"name": "shop_id", "in": "path", "required": True, "schema": _SHOP_ID}
_LOG_QUERY = [
    {"name": "shop_id", "in": "query", "required": False, "schema": _SHOP_ID},
    {
        "name": "limit", "in": "query", "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
    },
]

operations = [
    Operation("GET", "/admin/configs", list_configs, "List seller routes", list[Config], responses=AUTH_ERRORS),
    Operation(
        "POST", "/admin/configs", create_config, "Add a seller route (200, as the old service answered)", Config,
        body=NewConfigBody, parameters=[IDEMPOTENCY_HEADER],
        responses=LEGACY_WRITE_ERRORS,
    ),
    Operation(
        "GET", "/admin/configs/{shop_id}", get_config, "One seller route", Config, parameters=[_SHOP_PATH],
        responses={**AUTH_ERRORS, "404": error("unknown shop"), "422": error("bad shop id")},
    ),
    Operation(
        "PUT", "/admin/configs/{shop_id}", update_config, "Change a seller route", Config, body=ConfigChangeBody,
        parameters=[_SHOP_PATH], responses={**AUTH_ERRORS, **BAD_INPUT, "404": error("unknown shop")},
    ),
    Operation(
        "DELETE", "/admin/configs/{shop_id}", deactivate_config,
        "Deactivate a seller route (it is kept for the audit trail; PUT re-activates)", ConfigDeactivated,
        parameters=[_SHOP_PATH], responses={**AUTH_ERRORS, "404": error("unknown shop"), "422": error("bad shop id")},
    ),
    Operation(
        "GET", "/admin/logs", list_logs, "Audit log, newest first", list[AuditLogEntry], parameters=_LOG_QUERY,
        responses={**AUTH_ERRORS, "422": error("bad query")},
    ),
]
