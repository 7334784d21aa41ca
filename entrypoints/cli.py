"""`paygate`: serve, migrate, and the operator's commands (keys, routes, payments, demo)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from application.api_keys import SCOPES
from application.errors import ApplicationError
from application.manage_routes import RouteSpec
from config.container import Container, build_container, close_resources, open_resources
from config.logging_setup import configure_logging
from config.settings import Settings, SettingsError
from domain.errors import DomainError
from domain.seller_route import KASPI
from entrypoints.http.admin_routes import config_view

CLI_ACTOR = "cli"


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


async def _with_container(settings: Settings, work: Callable[[Container], Awaitable[int]]) -> int:
    container = build_container(settings)
    await open_resources(container)
    try:
        return await work(container)
    finally:
        await close_resources(container)


def _read_routes(path: Path) -> list[RouteSpec]:
    """Sellers from CSV (header: shop_id,organization_bin,device_token[,is_active][,provider]) or JSON."""
    text = path.read_text(encoding="utf-8")
    rows: list[dict[str, Any]]
    if path.suffix.lower() == ".json":
        rows = json.loads(text)
    else:
        rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    specs = []
    for row in rows:
        active = row.get("is_active", True)
        if isinstance(active, str):
            active = active.strip().lower() not in {"0", "false", "no"}
        token = (row.get("device_token") or "").strip()
        specs.append(
            RouteSpec(
                shop_id=int(row["shop_id"]),
                provider=(row.get("provider") or KASPI).strip(),
                merchant_account=str(row["organization_bin"]).strip(),
                credentials={"device_token": token} if token else {},
                is_active=bool(active),
            )
        )
    return specs


async def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from adapters.persistence.migrate import upgrade

    await upgrade(settings.database_url)
    print("database migrated", file=sys.stderr)
    return 0


async def _keys_create(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        _key, plaintext = await container.api_keys().issue(args.name, args.scope)
        print(plaintext)
        return 0

    return await _with_container(settings, work)


async def _routes_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        routes = await container.manage_routes().list(provider=args.provider)
        _print_json([config_view(r) for r in routes])
        return 0

    return await _with_container(settings, work)


async def _routes_add(settings: Settings, args: argparse.Namespace) -> int:
    spec = RouteSpec(
        shop_id=args.shop_id,
        provider=args.provider,
        merchant_account=args.bin,
        credentials={"device_token": args.device_token} if args.device_token else {},
        is_active=not args.inactive,
    )

    async def work(container: Container) -> int:
        route = await container.manage_routes().add(spec, actor=CLI_ACTOR)
        _print_json(config_view(route))
        return 0

    return await _with_container(settings, work)


async def _routes_import(settings: Settings, args: argparse.Namespace) -> int:
    specs = _read_routes(Path(args.file))

    async def work(container: Container) -> int:
        for spec in specs:
            await container.manage_routes().put(spec, actor=CLI_ACTOR)
        print(f"imported {len(specs)} routes", file=sys.stderr)
        return 0

    return await _with_container(settings, work)


async def _payments_show(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        get = container.get_payment()
        if args.id.isdigit():
            payment = await get.by_external_id(KASPI, args.id, actor=CLI_ACTOR)
        else:
            payment = await get.by_id(args.id, actor=CLI_ACTOR)
        _print_json(
            {
                "id": payment.id,
                "shop_id": payment.shop_id,
                "provider": payment.provider,
                "method": payment.method.value,
                "status": payment.status.value,
                "provider_status": payment.provider_status,
                "external_id": payment.external_id,
                "amount": payment.amount.minor,
                "refunded": payment.refunded.minor if payment.refunded else 0,
                "currency": payment.amount.currency,
                "merchant_account": payment.merchant_account,
                "error_code": payment.error_code,
                "error_message": payment.error_message,
                "created_at": payment.created_at,
                "updated_at": payment.updated_at,
            }
        )
        return 0

    return await _with_container(settings, work)


async def _demo_init(settings: Settings, args: argparse.Namespace) -> int:
    """Everything `make run` needs: a migrated database, the demo sellers, a key for the curl examples."""
    await _migrate(settings, args)
    specs = _read_routes(Path(args.sellers))
    key_file = Path(args.key_file)

    async def work(container: Container) -> int:
        for spec in specs:
            await container.manage_routes().put(spec, actor=CLI_ACTOR)
        existing = key_file.read_text().strip() if key_file.exists() else ""
        if not existing or await container.api_keys().authenticate(existing) is None:
            _key, plaintext = await container.api_keys().issue("demo", ["payments", "admin"])
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(plaintext + "\n")
            key_file.chmod(0o600)
        print(f"{len(specs)} demo sellers loaded; API key in {key_file}", file=sys.stderr)
        return 0

    return await _with_container(settings, work)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from adapters.persistence.migrate import DatabaseNotMigrated
    from entrypoints.http.app import create_app

    settings = attrs.evolve(settings, host=args.host or settings.host, port=args.port or settings.port)

    async def check(container: Container) -> int:
        await container.startup_check()()
        return 0

    try:
        asyncio.run(_with_container(settings, check))
    except DatabaseNotMigrated as not_migrated:
        print(f"paygate: {not_migrated}", file=sys.stderr)
        return 2
    app = create_app(build_container(settings))
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paygate", description="Paygate payment gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(sync_handler=_serve)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(handler=_migrate)

    keys = commands.add_parser("keys", help="API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="issue a key; prints it alone on stdout, once")
    create.add_argument("--name", default="api")
    create.add_argument("--scope", action="append", choices=sorted(SCOPES), required=True)
    create.set_defaults(handler=_keys_create)

    routes = commands.add_parser("routes", help="seller routes").add_subparsers(dest="routes_command", required=True)
    listing = routes.add_parser("list")
    listing.add_argument("--provider")
    listing.set_defaults(handler=_routes_list)
    add = routes.add_parser("add")
    add.add_argument("--shop-id", type=int, required=True)
    add.add_argument("--bin", required=True, help="the seller organisation's BIN (Kaspi merchant account)")
    add.add_argument("--device-token")
    add.add_argument("--provider", default=KASPI)
    add.add_argument("--inactive", action="store_true")
    add.set_defaults(handler=_routes_add)
    importing = routes.add_parser("import", help="add or update routes from a CSV or JSON file")
    importing.add_argument("file")
    importing.set_defaults(handler=_routes_import)

    payments = commands.add_parser("payments").add_subparsers(dest="payments_command", required=True)
    show = payments.add_parser("show", help="a payment by id or Kaspi external id")
    show.add_argument("id")
    show.set_defaults(handler=_payments_show)

    demo = commands.add_parser("demo").add_subparsers(dest="demo_command", required=True)
    init = demo.add_parser("init", help="migrate, load the demo sellers and write a demo API key")
    init.add_argument("--sellers", default="demo/sellers.csv")
    init.add_argument("--key-file", default="var/demo-api-key")
    init.set_defaults(handler=_demo_init)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        configure_logging(settings)
        if hasattr(args, "sync_handler"):
            return args.sync_handler(settings, args)
        return asyncio.run(args.handler(settings, args))
    except (SettingsError, DomainError, ApplicationError, ValueError, KeyError, OSError) as error:
        print(f"paygate: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
