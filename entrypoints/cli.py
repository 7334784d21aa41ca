"""`paygate`: serve, migrate, and the operator's commands (keys, routes, payments, demo)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import msgspec

from domain.access import ApiKey
from domain.audit import AuditEntry, Outcome
from domain.errors import DomainError
from domain.seller_route import KASPI

from application.api_keys import SCOPES
from application.errors import ApplicationError, StorageUnavailable
from application.manage_routes import RouteSpec
from application.payment_views import payment_view, refund_view

from entrypoints.http.seller_routes import route_resource
from entrypoints.route_import import FORMAT as IMPORT_FORMAT
from entrypoints.route_import import ImportFileError, import_routes, read_routes

from config.container import Container, build_container, close_resources, open_resources
from config.logging_setup import configure_logging
from config.settings import Settings, SettingsError

if TYPE_CHECKING:
    from entrypoints.http.app import Background

CLI_ACTOR = "cli"


def _print_json(value: Any) -> None:
    """JSON for a person and a script alike: indented, UTF-8 as it is (declared views and plain data)."""
    print(msgspec.json.format(msgspec.json.encode(value), indent=2).decode())


async def _with_container(settings: Settings, work: Callable[[Container], Awaitable[int]]) -> int:
    container = build_container(settings)
    try:
        await open_resources(container)
        return await work(container)
    finally:
        await close_resources(container)  # also those that opened before another one failed


def _load_sellers(path: Path) -> list[RouteSpec]:
    """Every row of a sellers file, or the first bad one as an error (`demo init`: all or nothing)."""
    rows, errors = read_routes(path)
    if errors:
        raise ImportFileError(f"{path}: {errors[0]}")
    return [row.spec for row in rows]


async def _migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from adapters.persistence.database import create_engine
    from adapters.persistence.migrate import upgrade
    from adapters.persistence.secrets_rotation import count_unencrypted

    await upgrade(settings.database_url)
    print("database migrated", file=sys.stderr)
    engine = create_engine(settings.database_url)
    try:
        unencrypted = await count_unencrypted(engine)
    finally:
        await engine.dispose()
    if unencrypted:
        print(f"{unencrypted} stored secrets predate encryption at rest: run `paygate secrets rotate`", file=sys.stderr)
    return 0


def _key_view(key: ApiKey) -> dict[str, Any]:
    """What an operator may see of a key: never the key, nor its hash."""
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": sorted(key.scopes),
        "shops": None if key.shops is None else sorted(key.shops),
        "created_at": key.created_at.isoformat(),
        "revoked_at": None if key.revoked_at is None else key.revoked_at.isoformat(),
    }


async def _keys_create(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        _key, plaintext = await container.api_keys().issue(args.name, args.scope, shops=args.shop, actor=CLI_ACTOR)
        print(plaintext)
        return 0

    return await _with_container(settings, work)


async def _keys_list(settings: Settings, _args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        _print_json([_key_view(key) for key in await container.api_keys().list()])
        return 0

    return await _with_container(settings, work)


async def _keys_revoke(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        _print_json(_key_view(await container.api_keys().revoke(args.id, actor=CLI_ACTOR)))
        return 0

    return await _with_container(settings, work)


async def _secrets_rotate(settings: Settings, _args: argparse.Namespace) -> int:
    from adapters.persistence.secrets_rotation import rotate_secrets

    if not settings.secrets_keys and not settings.database_url.startswith("sqlite"):
        # The development key file is this machine's alone: servers elsewhere could not read the result.
        print("paygate: set SECRETS_KEY (new key first, old keys after it) to rotate secrets", file=sys.stderr)
        return 2

    async def work(container: Container) -> int:
        rewritten = await rotate_secrets(container.engine(), container.secret_cipher())
        await container.audit().record(
            AuditEntry(
                operation_type="secrets_rotate",
                status=Outcome.SUCCESS,
                created_at=container.clock().now(),
                actor=CLI_ACTOR,
            )
        )
        print(f"{rewritten} stored secrets encrypted under the first SECRETS_KEY", file=sys.stderr)
        return 0

    return await _with_container(settings, work)


async def _secrets_generate_key(_settings: Settings, _args: argparse.Namespace) -> int:
    from adapters.secrets import generate_key

    print(generate_key())
    return 0


async def _routes_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        routes = await container.manage_routes().list(provider=args.provider)
        configured = container.payment_providers().names()
        if args.provider is not None and not routes and args.provider not in configured:
            # A typo would otherwise look like a provider without routes.
            raise ValueError(f"unknown provider {args.provider!r} (this gateway's providers: {', '.join(configured)})")
        _print_json([route_resource(r) for r in routes])
        return 0

    return await _with_container(settings, work)


def _credentials(pairs: Sequence[str], device_token: str | None) -> dict[str, str]:
    """`--credential name=value` pairs; `--device-token T` is Kaspi's `--credential device_token=T`."""
    credentials: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--credential takes name=value, not {pair.split('=')[0]!r}...")
        credentials[name.strip()] = value
    if device_token:
        credentials["device_token"] = device_token
    return credentials


async def _routes_add(settings: Settings, args: argparse.Namespace) -> int:
    spec = RouteSpec(
        shop_id=args.shop_id,
        provider=args.provider,
        merchant_account=args.account,
        credentials=_credentials(args.credential, args.device_token),
        is_active=not args.inactive,
        is_default=args.default,
    )

    async def work(container: Container) -> int:
        route = await container.manage_routes().add(spec, actor=CLI_ACTOR)
        _print_json(route_resource(route))
        return 0

    return await _with_container(settings, work)


async def _routes_import(settings: Settings, args: argparse.Namespace) -> int:
    path = Path(args.file)
    read_routes(path)  # a file that cannot be read at all is refused before anything opens

    async def work(container: Container) -> int:
        report = await import_routes(container.manage_routes(), path, actor=CLI_ACTOR)
        for error in report.errors:
            print(f"paygate: {path}: {error}", file=sys.stderr)
        print(report.summary(), file=sys.stderr)
        return 1 if report.errors else 0

    return await _with_container(settings, work)


def _major_amount(text: str) -> Decimal:
    """An amount as an operator types it (`7000.00`): exact decimal digits, never a float."""
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount like 7000.00") from None
    if not amount.is_finite() or amount <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive amount")
    return amount


async def _payments_show(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        get = container.get_payment()
        if args.id.isdigit():
            payment = await get.by_external_id(KASPI, args.id, actor=CLI_ACTOR)
        else:
            payment = await get.by_id(args.id, actor=CLI_ACTOR)
        _print_json(payment_view(payment))
        return 0

    return await _with_container(settings, work)


async def _payments_attach(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        attach = container.attach_external_id()
        if not args.yes:
            # Shown only once verified (the typed amount included): the operator confirms what was checked.
            checked = await attach.check(args.id, args.external_id, typed_amount=args.amount, actor=CLI_ACTOR)
            observed = checked.observed
            _print_json(
                {
                    "payment": payment_view(checked.payment),
                    "provider": {
                        "external_id": observed.external_id,
                        "status": observed.provider_status,
                        "amount": observed.amount.minor if observed.amount else None,
                    },
                }
            )
            print("paygate: verified, nothing attached yet: run it again with --yes to attach", file=sys.stderr)
            return 1
        payment = await attach.execute(args.id, args.external_id, typed_amount=args.amount, actor=CLI_ACTOR)
        _print_json(payment_view(payment))
        return 0

    return await _with_container(settings, work)


async def _refunds_attach(settings: Settings, args: argparse.Namespace) -> int:
    async def work(container: Container) -> int:
        attach = container.attach_refund_outcome()
        if not args.yes:
            refund = await attach.preview(args.id)
            outcome = "succeeded" if args.succeeded else "failed (its amount given back to the payment)"
            _print_json(refund_view(refund))
            print(f"paygate: refund {refund.id} would be recorded {outcome}; add --yes to do it", file=sys.stderr)
            return 1
        change = await attach.execute(args.id, succeeded=args.succeeded, actor=CLI_ACTOR)
        _print_json({**msgspec.structs.asdict(refund_view(change.refund)), "payment": payment_view(change.payment)})
        return 0

    return await _with_container(settings, work)


# The demo seller with a route at every simulated provider besides Kaspi (its default stays Kaspi),
# so the README's web-page walkthrough needs no setup. The simulators enrol these accounts on first use.
DEMO_SHOP = 121038


def _demo_provider_routes(settings: Settings) -> list[RouteSpec]:
    routes = []
    if settings.stripe_simulated:
        routes.append(RouteSpec(shop_id=DEMO_SHOP, provider="stripe", merchant_account="acct_1DemoEileenFlowers"))
    if settings.yookassa_simulated:
        routes.append(RouteSpec(
            shop_id=DEMO_SHOP, provider="yookassa", merchant_account="121038",
            credentials={"secret_key": "test_demo_yookassa_key_121038"},
        ))
    if settings.cloudpayments_simulated:
        routes.append(RouteSpec(
            shop_id=DEMO_SHOP, provider="cloudpayments", merchant_account="pk_demo121038",
            credentials={"api_secret": "demo_cloudpayments_secret_121038"},
        ))
    return routes


async def _demo_init(settings: Settings, args: argparse.Namespace) -> int:
    """Everything `make run` needs: a migrated database, the demo sellers, a key for the curl examples."""
    await _migrate(settings, args)
    specs = _load_sellers(Path(args.sellers)) + _demo_provider_routes(settings)
    key_file = Path(args.key_file)

    async def work(container: Container) -> int:
        for spec in specs:
            await container.manage_routes().put(spec, actor=CLI_ACTOR)
        existing = key_file.read_text().strip() if key_file.exists() else ""
        if not existing or await container.api_keys().authenticate(existing) is None:
            _key, plaintext = await container.api_keys().issue("demo", ["payments", "admin"], actor=CLI_ACTOR)
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(plaintext + "\n")
            key_file.chmod(0o600)
        print(f"{len(specs)} demo routes loaded; API key in {key_file}", file=sys.stderr)
        return 0

    return await _with_container(settings, work)


async def _webhooks_tail(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.webhook_tail import tail

    return await _with_container(
        settings,
        lambda container: tail(container, host=args.host, port=args.port, event_types=args.event, as_json=args.json),
    )


async def _poll(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.poller import run_poller

    return await _with_container(
        settings, lambda container: run_poller(container, once=args.once, interval=args.interval)
    )


async def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    from entrypoints.poller import run_dispatcher

    return await _with_container(settings, lambda container: run_dispatcher(container, once=args.once))


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    return _serve_http(settings, args)


def _run(settings: Settings, args: argparse.Namespace) -> int:
    """The HTTP server, the poller and the dispatcher in one process: the whole job for a demo or
    a small install (production runs them as separate processes, each scaled on its own)."""
    from entrypoints.poller import poll_and_dispatch

    return _serve_http(settings, args, background=poll_and_dispatch)


def _serve_http(settings: Settings, args: argparse.Namespace, background: Background | None = None) -> int:
    import uvicorn

    from adapters.persistence.migrate import DatabaseNotMigrated

    from entrypoints.http.app import create_app
    from entrypoints.http.slow_clients import limited_http_protocol

    settings = attrs.evolve(settings, host=args.host or settings.host, port=args.port or settings.port)

    async def check(container: Container) -> int:
        from entrypoints.poller import warn_of_refused_webhooks

        await container.startup_check()()
        await warn_of_refused_webhooks(container)
        return 0

    try:
        asyncio.run(_with_container(settings, check))
    except DatabaseNotMigrated as not_migrated:
        print(f"paygate: {not_migrated}", file=sys.stderr)
        return 2
    app = create_app(build_container(settings), background=background)
    # proxy_headers=False: Paygate itself decides whose X-Forwarded-For to believe (TRUSTED_PROXIES);
    # uvicorn would otherwise rewrite the client address from it for any peer on 127.0.0.1.
    # http: httptools with deadlines for headers and body and a header size limit (HTTP_*).
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        # A factory of protocols, called as the protocol class uvicorn's signature names.
        http=limited_http_protocol(settings),  # type: ignore[arg-type]  # uvicorn types it as a class; a factory is what it calls
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paygate", description="Paygate payment gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", help="the interface to listen on (default: HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="the port to listen on (default: PORT, else 8015)")
    serve.set_defaults(sync_handler=_serve)
    run = commands.add_parser("run", help="run the HTTP API, the poller and the dispatcher in one process")
    run.add_argument("--host", help="the interface to listen on (default: HOST, else 127.0.0.1)")
    run.add_argument("--port", type=int, help="the port to listen on (default: PORT, else 8015)")
    run.set_defaults(sync_handler=_run)

    commands.add_parser("migrate", help="apply database migrations").set_defaults(handler=_migrate)

    poll = commands.add_parser("poll", help="check open payments with their providers; deliver events")
    poll.add_argument("--once", action="store_true", help="one sweep and one dispatch round, then a JSON summary")
    poll.add_argument("--interval", type=float, help="seconds between sweeps (default: POLL_INTERVAL_SECONDS)")
    poll.set_defaults(handler=_poll)
    dispatch = commands.add_parser("dispatch", help="deliver webhooks and publish events, without polling")
    dispatch.add_argument("--once", action="store_true", help="one round, then a JSON summary")
    dispatch.set_defaults(handler=_dispatch)

    keys = commands.add_parser("keys", help="API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="issue a key; prints it alone on stdout, once")
    create.add_argument("--name", default="api", help="who holds the key, shown in listings and logs (default: api)")
    create.add_argument(
        "--scope",
        action="append",
        choices=sorted(scope.value for scope in SCOPES),
        required=True,
        help="what the key may do; repeat --scope for several",
    )
    create.add_argument(
        "--shop",
        action="append",
        type=int,
        metavar="SHOP_ID",
        help="restrict the key to this shop, which must have a route; repeat --shop for several (default: every shop)",
    )
    create.set_defaults(handler=_keys_create)
    keys.add_parser("list", help="every key: id, name, prefix, scopes, shops (never the key)").set_defaults(
        handler=_keys_list
    )
    revoke = keys.add_parser("revoke", help="revoke a key for good; it stops working at once")
    revoke.add_argument("id", help="the key's id (key_..., from `keys list`)")
    revoke.set_defaults(handler=_keys_revoke)

    secrets = commands.add_parser("secrets", help="secrets at rest").add_subparsers(
        dest="secrets_command", required=True
    )
    secrets.add_parser("rotate", help="re-encrypt every stored secret under the first SECRETS_KEY").set_defaults(
        handler=_secrets_rotate
    )
    secrets.add_parser("generate-key", help="print a new key for SECRETS_KEY").set_defaults(
        handler=_secrets_generate_key
    )

    routes = commands.add_parser("routes", help="seller routes").add_subparsers(dest="routes_command", required=True)
    listing = routes.add_parser("list", help="every seller route, credentials named but never shown")
    listing.add_argument("--provider", help="only this provider's routes (kaspi, stripe, ...)")
    listing.set_defaults(handler=_routes_list)
    add = routes.add_parser("add", help="add a seller's route to its merchant account at one provider")
    add.add_argument("--shop-id", type=int, required=True, help="the marketplace's seller id")
    account = add.add_mutually_exclusive_group(required=True)
    account.add_argument("--account", help="the seller's merchant account at the provider (Stripe acct_..., ...)")
    account.add_argument("--bin", dest="account", help="the seller organisation's BIN (the Kaspi merchant account)")
    add.add_argument("--device-token", help="Kaspi's device token (same as --credential device_token=T)")
    add.add_argument(
        "--credential",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a credential of the route, repeatable (secret_key=..., api_secret=...)",
    )
    add.add_argument("--provider", default=KASPI, help=f"the provider (default: {KASPI})")
    add.add_argument("--default", action="store_true", help="the shop's default route (unsets its other default)")
    add.add_argument("--inactive", action="store_true", help="add it switched off: payments to it are refused")
    add.set_defaults(handler=_routes_add)
    importing = routes.add_parser(
        "import",
        help="add or update routes from a CSV or JSON file (re-runnable)",
        description="Add or update seller routes from a file; rows without a device token are valid.",
        epilog=IMPORT_FORMAT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    importing.add_argument("file", help="a .csv or .json file of sellers (format below)")
    importing.set_defaults(handler=_routes_import)

    payments = commands.add_parser("payments", help="look up and repair payments").add_subparsers(
        dest="payments_command", required=True
    )
    show = payments.add_parser("show", help="a payment by id or Kaspi external id")
    show.add_argument("id", help="the Paygate id (pay_...) or the Kaspi external id (digits)")
    show.set_defaults(handler=_payments_show)
    attach = payments.add_parser(
        "attach", help="give a payment whose create answer was lost the provider's id found in its cabinet"
    )
    attach.add_argument("id", help="the Paygate payment id (pay_...)")
    attach.add_argument("--external-id", required=True, help="the provider's id of that payment")
    attach.add_argument(
        "--amount",
        type=_major_amount,
        help="the amount the merchant cabinet shows for that id, in the payment's currency units (7000.00); "
        "required where the provider's status does not tell it (Kaspi)",
    )
    attach.add_argument("--yes", action="store_true", help="attach; without it the checks run and nothing changes")
    attach.set_defaults(handler=_payments_attach)

    webhooks = commands.add_parser("webhooks", help="outgoing webhooks").add_subparsers(
        dest="webhooks_command", required=True
    )
    tail = webhooks.add_parser(
        "tail",
        help="receive webhooks on this machine and print each verified event (subscribes; Ctrl-C unsubscribes)",
    )
    tail.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    tail.add_argument("--port", type=int, default=8016, help="port to listen on (default: 8016; 0: any free one)")
    tail.add_argument(
        "--event", action="append", metavar="TYPE", help="only this event type (repeatable; default: all)"
    )
    tail.add_argument("--json", action="store_true", help="print each event's whole body as one JSON line")
    tail.set_defaults(handler=_webhooks_tail)

    refunds = commands.add_parser("refunds", help="refunds whose outcome the provider cannot be asked").add_subparsers(
        dest="refunds_command", required=True
    )
    attach_refund = refunds.add_parser(
        "attach",
        help="record the outcome of a refund whose answer was lost, as the merchant cabinet shows it "
        "(providers Paygate cannot ask: Kaspi, CloudPayments)",
    )
    attach_refund.add_argument("id", help="the Paygate refund id (re_...)")
    outcome = attach_refund.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--succeeded", action="store_true", help="the cabinet shows the refund made")
    outcome.add_argument("--failed", action="store_true", help="the cabinet shows no such refund")
    attach_refund.add_argument("--yes", action="store_true", help="do it (without: show the refund and stop)")
    attach_refund.set_defaults(handler=_refunds_attach)

    demo = commands.add_parser("demo", help="the local demo of `make run`").add_subparsers(
        dest="demo_command", required=True
    )
    init = demo.add_parser("init", help="migrate, load the demo sellers and write a demo API key")
    init.add_argument("--sellers", default="demo/sellers.csv", help="the sellers file (default: demo/sellers.csv)")
    init.add_argument(
        "--key-file", default="var/demo-api-key", help="where the demo API key is written (default: var/demo-api-key)"
    )
    init.set_defaults(handler=_demo_init)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        configure_logging(settings)
        if hasattr(args, "sync_handler"):
            sync_handler: Callable[[Settings, argparse.Namespace], int] = args.sync_handler
            return sync_handler(settings, args)
        handler: Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]] = args.handler
        return asyncio.run(handler(settings, args))
    except (SettingsError, DomainError, ApplicationError, ValueError, OSError) as error:
        print(f"paygate: {_explain(error)}", file=sys.stderr)
        return 2


def _explain(error: Exception) -> str:
    """The message a person can act on: `demo/x.csv: No such file or directory`, not `[Errno 2] ...`."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    if isinstance(error, StorageUnavailable):
        return f"the database is unreachable ({error.reason}): check DATABASE_URL and that the server is up"
    return str(error)


if __name__ == "__main__":
    sys.exit(main())
