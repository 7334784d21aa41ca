"""Sellers (routes), webhooks and API keys: what an `admin` key manages, by the API's use cases and
its rules (a shop-restricted key manages only its shops' routes; webhooks and keys need every shop)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from domain.access import ApiKey, Scope
from domain.errors import InvalidValue
from domain.events import EventType
from domain.identifiers import check_shop_id
from domain.webhooks import DELIVERY_FILTERS

from application.manage_routes import RouteChange, RouteSpec

from entrypoints.console.web import back, checked_form, page, render, session_of
from entrypoints.http.auth import require_every_shop, require_shop
from entrypoints.http.use_cases import use_cases

_SELLERS = "/console/sellers"


def _shop_id(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise InvalidValue("shop_id", "shop_id is a positive number")
    return check_shop_id(int(raw))


def _credentials(text: str) -> dict[str, str]:
    """`name=value` lines; blank lines are skipped."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise InvalidValue("credentials", "credentials are name=value lines")
        found[name.strip()] = value.strip()
    return found


@page(Scope.ADMIN)
async def sellers(request: Request, principal: ApiKey) -> Response:
    core = use_cases(request)
    routes = [r for r in await core.manage_routes.list() if principal.reaches(r.shop_id)]
    overview = await core.operations_overview.execute(shops=principal.shops)
    numbers = {rate.name: rate for rate in overview.by_seller}
    return render(
        request, "sellers.html", principal=principal, session=session_of(request), routes=routes, numbers=numbers,
        providers=core.payment_providers.names(), editing=request.query_params.get("edit"),
    )


@page(Scope.ADMIN)
async def add_route(request: Request, principal: ApiKey) -> Response:
    form = await checked_form(request, session_of(request))
    provider = form.get("provider", "")
    spec = RouteSpec(
        shop_id=require_shop(principal, _shop_id(form.get("shop_id", "")), provider),
        provider=provider,
        merchant_account=form.get("merchant_account", "").strip(),
        credentials=_credentials(form.get("credentials", "")),
        is_default=form.get("is_default") == "on",
    )
    await use_cases(request).manage_routes.add(spec, actor=principal.name)
    return back(_SELLERS, notice="Done.")


@page(Scope.ADMIN)
async def change_route(request: Request, principal: ApiKey) -> Response:
    form = await checked_form(request, session_of(request))
    provider = request.path_params["provider"]
    shop_id = require_shop(principal, _shop_id(request.path_params["shop_id"]), provider)
    action = form.get("action", "save")
    if action == "deactivate":
        change = RouteChange(is_active=False)
    elif action == "activate":
        change = RouteChange(is_active=True)
    else:
        credentials = _credentials(form.get("credentials", ""))
        change = RouteChange(
            merchant_account=form.get("merchant_account", "").strip() or None,
            # Write-only: nothing typed keeps what is stored.
            credentials=credentials or None,
            is_default=form.get("is_default") == "on",
        )
    await use_cases(request).manage_routes.change(shop_id, provider, change, actor=principal.name)
    return back(_SELLERS, notice="Done.")


@page(Scope.ADMIN)
async def webhooks(request: Request, principal: ApiKey) -> Response:
    require_every_shop(principal, "webhooks")
    manage = use_cases(request).manage_webhooks
    query = request.query_params
    status = query.get("status") or None
    event_id = query.get("event_id") or None
    subscription_id = query.get("subscription_id") or None
    event_type = query.get("event_type") or None
    deliveries = await manage.deliveries(status=status, event_id=event_id, subscription_id=subscription_id, limit=200)
    if event_type is not None:
        deliveries = [record for record in deliveries if record.delivery.event_type == event_type]
    return render(
        request, "webhooks.html", principal=principal, session=session_of(request),
        subscriptions=await manage.list(), deliveries=deliveries,
        statuses=DELIVERY_FILTERS, event_types=[e.value for e in EventType],
        filters={
            "status": status or "",
            "event_type": event_type or "",
            "subscription_id": subscription_id or "",
            "event_id": event_id or "",
        },
        secret=None,
    )


@page(Scope.ADMIN)
async def add_webhook(request: Request, principal: ApiKey) -> Response:
    require_every_shop(principal, "webhooks")
    form = await checked_form(request, session_of(request))
    manage = use_cases(request).manage_webhooks
    events = [e.strip() for e in form.get("events", "").replace(",", " ").split() if e.strip()]
    _subscription, secret = await manage.add(
        url=form.get("url", "").strip(), event_types=events or None,
        description=form.get("description", "").strip(), actor=principal.name,
    )
    # The secret is shown on this answer only: it is never readable again.
    return render(
        request, "webhooks.html", principal=principal, session=session_of(request),
        subscriptions=await manage.list(), deliveries=[], statuses=DELIVERY_FILTERS,
        event_types=[e.value for e in EventType],
        filters={"status": "", "event_type": "", "subscription_id": "", "event_id": ""}, secret=secret,
    )


@page(Scope.ADMIN)
async def remove_webhook(request: Request, principal: ApiKey) -> Response:
    require_every_shop(principal, "webhooks")
    await checked_form(request, session_of(request))
    await use_cases(request).manage_webhooks.remove(request.path_params["subscription_id"], actor=principal.name)
    return back("/console/webhooks", notice="Done.")


@page(Scope.ADMIN)
async def keys(request: Request, principal: ApiKey) -> Response:
    require_every_shop(principal, "API keys")
    return render(
        request, "keys.html", principal=principal, session=session_of(request),
        keys=await use_cases(request).api_keys.list(), scopes=sorted(s.value for s in Scope), created=None,
    )


@page(Scope.ADMIN)
async def create_key(request: Request, principal: ApiKey) -> Response:
    require_every_shop(principal, "API keys")
    form = await checked_form(request, session_of(request))
    api_keys = use_cases(request).api_keys
    raw_shops = [s for s in form.get("shops", "").replace(",", " ").split() if s]
    shops = [_shop_id(s) for s in raw_shops] if raw_shops else None
    scopes = [s for s in sorted(Scope) if form.get(f"scope_{s.value}") == "on"]
    _key, plaintext = await api_keys.issue(
        form.get("name", "").strip(), scopes, shops=shops, actor=principal.name, creator=principal
    )
    return render(
        request, "keys.html", principal=principal, session=session_of(request),
        keys=await api_keys.list(), scopes=sorted(s.value for s in Scope), created=plaintext,
    )


@page(Scope.ADMIN)
async def revoke_key(request: Request, principal: ApiKey) -> Response:
    require_every_shop(principal, "API keys")
    await checked_form(request, session_of(request))
    await use_cases(request).api_keys.revoke(request.path_params["key_id"], actor=principal.name)
    return back("/console/keys", notice="Done.")
