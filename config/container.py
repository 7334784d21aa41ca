"""The composition root: the one place that knows every concrete class."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import redis.asyncio as redis
from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.caching import CachedApiKeyStore, CachedRouteStore, CacheInvalidation
from adapters.metrics import PaygateMetrics
from adapters.notifications.rabbitmq import RabbitMqPublisher
from adapters.notifications.targets import PinnedResolver, SystemHostResolver
from adapters.notifications.webhooks import HttpWebhookSender
from adapters.persistence.creation_journal import journal_for
from adapters.persistence.idempotency import idempotency_store_for
from adapters.persistence.implicit_idempotency import SqlImplicitIdempotency
from adapters.persistence.payment_lookup import lookup_for
from adapters.persistence.database import AutocommitPool, autocommit_pool, create_engine, libpq_url
from adapters.persistence.gauges import DatabaseGauges
from adapters.persistence.reports import SqlAlchemyReports
from adapters.persistence.invalidation import Invalidate, InvalidationListener
from adapters.persistence.migrate import check_migrated
from adapters.persistence.probe import DatabaseProbe
from adapters.persistence.stores import SqlAlchemyApiKeyStore, SqlAlchemyRouteStore
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.providers.cloudpayments.provider import CloudPaymentsProvider
from adapters.providers.cloudpayments.simulator import create_cloudpayments_simulator
from adapters.providers.cloudpayments.simulator_state import CloudPaymentsSimulatorState
from adapters.providers.aiohttp_transport import PlainHttpClient
from adapters.providers.http_client import build_http_client, build_plain_http_client
from adapters.providers.instrumented import ProviderCallBook, instrument
from adapters.providers.kaspi_proxy.polling import KASPI_POLL_SCHEDULE
from adapters.providers.kaspi_proxy.provider import KaspiProxyProvider
from adapters.providers.kaspi_proxy.simulator import KaspiSimulatorState, create_kaspi_simulator
from adapters.providers.sandbox.provider import SandboxProvider
from adapters.providers.sandbox.simulator import FAILURE_REASONS, SandboxGateway, SandboxKnobs, create_sandbox_controls
from adapters.providers.stripe.provider import StripeProvider
from adapters.providers.stripe.simulator import StripeSimulatorState, create_stripe_simulator
from adapters.providers.stripe.webhooks import StripeWebhooks
from adapters.providers.yookassa.provider import YooKassaProvider
from adapters.providers.yookassa.simulator import YooKassaSimulatorState, create_yookassa_simulator
from adapters.rate_limit import InProcessTokenBucket, NoRateLimit, RedisTokenBucket
from adapters.secrets import FernetCipher, configured_cipher
from adapters.system import SystemClock, UlidGenerator
from adapters.throttle import TokenBucketThrottle
from application.api_keys import ApiKeys
from application.audit import AuditRecorder
from application.audit_log import ListAuditLog
from application.client_reports import RecordClientLog, ReportPaymentStatus
from application.implicit_idempotency import ImplicitIdempotencyKeys
from application.cancel_payment import CancelPayment
from application.capture_payment import CapturePayment
from application.create_payment import CreatePayment
from application.dispatch_events import DispatchEvents
from application.get_payment import GetPayment
from application.list_payments import ListPayments
from application.operations_overview import OperationsOverview
from application.payment_timeline import PaymentTimeline
from application.manage_routes import ManageRoutes
from application.manage_webhooks import ManageWebhooks
from application.webhook_targets import WebhookTargets
from application.poll_payments import PollPayments, WithdrawBeforeExpiry
from application.poll_refunds import PollRefunds
from application.provider_notices import HandleProviderNotice
from application.ports import PaymentProvider
from application.providers import ProviderDirectory
from application.recover_payment import AttachExternalId
from application.search_payments import SearchPayments
from application.settlement_report import SettlementReport
from application.recover_refund import AttachRefundOutcome
from application.refund_payment import RefundPayment
from application.sync_refund_status import SyncRefundStatus
from application.sync_status import SyncPaymentStatus
from config.settings import Settings
from domain.webhook_targets import WebhookTargetRules


async def _engine(url: str, pool_size: int, pool_timeout: float) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url, pool_size=pool_size, pool_timeout=pool_timeout)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _autocommit_pool(url: str, size: int, timeout: float) -> AsyncIterator[AutocommitPool | None]:
    async with autocommit_pool(url, size=size, timeout=timeout) as pool:
        yield pool


async def _plain_http_client() -> AsyncIterator[PlainHttpClient]:
    async with build_plain_http_client() as client:
        yield client


async def _http_client(timeout: float) -> AsyncIterator[httpx.AsyncClient]:
    client = build_http_client(timeout=timeout)
    try:
        yield client
    finally:
        await client.aclose()


async def _webhook_http_client(timeout: float) -> AsyncIterator[httpx.AsyncClient]:
    # Connects only to the addresses the sender checked for the request (`PinnedResolver`).
    client = build_http_client(timeout=timeout, resolver=PinnedResolver())
    try:
        yield client
    finally:
        await client.aclose()


async def _event_publisher(url: str | None, exchange: str) -> AsyncIterator[RabbitMqPublisher | None]:
    # BROKER_URL unset: no broker, events reach subscribers by webhook only. The publisher connects
    # on first use, so a broker that is down never stops a process from starting.
    if url is None:
        yield None
        return
    publisher = RabbitMqPublisher(url=url, exchange=exchange)
    try:
        yield publisher
    finally:
        await publisher.close()


def _if_enabled(enabled: bool, adapter: Callable[[], PaymentProvider]) -> PaymentProvider | None:
    """The adapter when its settings enable it; a disabled provider is never even built."""
    return adapter() if enabled else None


def _enabled(**adapters: PaymentProvider | None) -> dict[str, PaymentProvider]:
    return {name: adapter for name, adapter in adapters.items() if adapter is not None}


def _sandbox_gateway(settings: Settings) -> SandboxGateway:
    knobs = SandboxKnobs(
        success_rate=settings.sandbox_success_rate,
        latency_ms=settings.sandbox_latency_ms,
        failure_reasons=settings.sandbox_failure_reasons or tuple(FAILURE_REASONS),
    )
    public_url = f"http://{settings.host}:{settings.port}/sandbox/sandbox"
    return SandboxGateway(seed=settings.sandbox_seed, knobs=knobs, public_url=public_url)


def _cloudpayments_simulator_state(port: int) -> CloudPaymentsSimulatorState:
    # Sites enrol with the secret of their first call and notify this gateway: a demo needs no setup.
    return CloudPaymentsSimulatorState(
        enrol_on_first_use=True, default_notification_url=f"http://127.0.0.1:{port}/webhooks/cloudpayments"
    )


def _startup_check(engine: AsyncEngine) -> Callable[[], Awaitable[None]]:
    return functools.partial(check_migrated, engine)


async def _secret_cipher(keys: tuple[str, ...], key_file: str) -> AsyncIterator[FernetCipher]:
    # Reading (or creating) the development key file is disk I/O: not on the event loop.
    yield await asyncio.to_thread(configured_cipher, keys, development_key_file=Path(key_file))


async def _invalidation_listener(database_url: str, on_topic: Invalidate) -> AsyncIterator[InvalidationListener | None]:
    conninfo = libpq_url(database_url)
    if conninfo is None:  # SQLite: no notices, the caches' TTL bounds staleness
        yield None
        return
    listener = InvalidationListener(conninfo, on_topic)
    await listener.start()
    try:
        yield listener
    finally:
        await listener.stop()


def _key_cache_ttl(database_url: str, ttl: float) -> float:
    # A revoked key is refused at its next request. PostgreSQL tells every process of a revocation
    # (LISTEN/NOTIFY); SQLite cannot, so there keys are read per request, never cached.
    return ttl if libpq_url(database_url) is not None else 0.0


async def _rate_limiter(
    rate: float, burst: int, redis_url: str | None
) -> AsyncIterator[InProcessTokenBucket | RedisTokenBucket | NoRateLimit]:
    if rate <= 0:
        yield NoRateLimit()
    elif redis_url is None:
        yield InProcessTokenBucket(rate=rate, burst=burst)
    else:
        client = redis.Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            yield RedisTokenBucket(client, rate=rate, burst=burst)
        finally:
            await client.aclose()


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(UlidGenerator)

    # Resources: opened by the HTTP lifespan or the CLI runner, closed by them.
    engine = providers.Resource(
        _engine,
        url=settings.provided.database_url,
        pool_size=settings.provided.database_pool_size,
        pool_timeout=settings.provided.database_pool_timeout_seconds,
    )
    autocommit_pool = providers.Resource(
        _autocommit_pool,
        url=settings.provided.database_url,
        size=settings.provided.database_write_pool_size,
        timeout=settings.provided.database_pool_timeout_seconds,
    )
    kaspi_http_client = providers.Resource(_plain_http_client)
    yookassa_http_client = providers.Resource(_http_client, timeout=settings.provided.yookassa_timeout_seconds)
    cloudpayments_http_client = providers.Resource(
        _http_client, timeout=settings.provided.cloudpayments_timeout_seconds
    )
    stripe_http_client = providers.Resource(_http_client, timeout=settings.provided.stripe_timeout_seconds)

    # Encrypts secrets at rest: route credentials here, webhook secrets wherever they are stored.
    secret_cipher = providers.Resource(
        _secret_cipher, keys=settings.provided.secrets_keys, key_file=settings.provided.secrets_key_file
    )
    rate_limiter = providers.Resource(
        _rate_limiter,
        rate=settings.provided.rate_limit_per_second,
        burst=settings.provided.rate_limit_burst,
        redis_url=settings.provided.redis_url,
    )

    uow = providers.Callable(functools.partial, SqlAlchemyUnitOfWork, engine, cipher=secret_cipher)
    # Routes and keys are read on every request: from memory once warm, dropped on every change.
    route_store = providers.Singleton(
        CachedRouteStore,
        providers.Singleton(SqlAlchemyRouteStore, engine, cipher=secret_cipher),
        ttl=settings.provided.cache_ttl_seconds,
    )
    idempotency_store = providers.Singleton(idempotency_store_for, autocommit_pool, engine)
    implicit_idempotency_keys = providers.Singleton(
        ImplicitIdempotencyKeys,
        store=providers.Singleton(SqlImplicitIdempotency, engine),
        clock=clock,
        ids=ids,
        window=providers.Callable(timedelta, seconds=settings.provided.legacy_implicit_idempotency_seconds),
    )
    api_key_store = providers.Singleton(
        CachedApiKeyStore,
        providers.Singleton(SqlAlchemyApiKeyStore, engine),
        ttl=providers.Callable(_key_cache_ttl, settings.provided.database_url, settings.provided.cache_ttl_seconds),
    )
    cache_invalidation = providers.Singleton(CacheInvalidation, route_store, api_key_store)
    # Changes made by other processes (replicas, the CLI) reach the caches through PostgreSQL.
    invalidation_listener = providers.Resource(
        _invalidation_listener, database_url=settings.provided.database_url, on_topic=cache_invalidation
    )
    database_probe = providers.Singleton(DatabaseProbe, engine)
    startup_check = providers.Callable(_startup_check, engine)

    kaspi_simulator_state = providers.Singleton(
        KaspiSimulatorState, latency_ms=settings.provided.kaspi_simulator_latency_ms
    )
    kaspi_simulator = providers.Singleton(
        create_kaspi_simulator,
        access_token=settings.provided.kaspi_access_token,
        state=kaspi_simulator_state,
    )
    kaspi = providers.Singleton(
        KaspiProxyProvider,
        client=kaspi_http_client,
        base_url=settings.provided.kaspi_base_url,
        access_token=settings.provided.kaspi_access_token,
        timeout=settings.provided.kaspi_timeout_seconds,
    )
    # The sandbox provider: a simulated gateway in the process (SANDBOX_PROVIDER), its controls
    # mounted at /sandbox/sandbox.
    sandbox_gateway = providers.Singleton(_sandbox_gateway, settings)
    sandbox_controls = providers.Singleton(create_sandbox_controls, sandbox_gateway)
    sandbox = providers.Singleton(
        SandboxProvider, gateway=sandbox_gateway, timeout=settings.provided.sandbox_timeout_seconds
    )
    # YooKassa (YOOKASSA_API_URL); `simulator` mounts its simulator at /sandbox/yookassa, where any
    # shop is enrolled with the secret key of its first request, so a demo needs no setup.
    yookassa_simulator_state = providers.Singleton(YooKassaSimulatorState, enrol_on_first_use=True)
    yookassa_simulator = providers.Singleton(create_yookassa_simulator, state=yookassa_simulator_state)
    yookassa = providers.Singleton(
        YooKassaProvider,
        client=yookassa_http_client,
        base_url=settings.provided.yookassa_base_url,
        timeout=settings.provided.yookassa_timeout_seconds,
    )
    # Stripe (STRIPE_SECRET_KEY, the platform's key); `simulator` mounts its simulator at /sandbox/stripe,
    # which delivers its signed events to this gateway's own /webhooks/stripe.
    stripe_simulator_state = providers.Singleton(
        StripeSimulatorState,
        webhook_url=settings.provided.stripe_simulator_webhook_url,
        webhook_secret=settings.provided.stripe_webhook_secrets[0],
    )
    stripe_simulator = providers.Singleton(
        create_stripe_simulator, secret_key=settings.provided.stripe_secret_key, state=stripe_simulator_state
    )
    stripe = providers.Singleton(
        StripeProvider,
        client=stripe_http_client,
        secret_key=settings.provided.stripe_secret_key,
        base_url=settings.provided.stripe_base_url,
        timeout=settings.provided.stripe_timeout_seconds,
    )
    stripe_webhooks = providers.Singleton(StripeWebhooks, secrets=settings.provided.stripe_webhook_secrets, clock=clock)
    # CloudPayments (CLOUDPAYMENTS_API_URL); `simulator` mounts its simulator at /sandbox/cloudpayments.
    cloudpayments_simulator_state = providers.Singleton(_cloudpayments_simulator_state, settings.provided.port)
    cloudpayments_simulator = providers.Singleton(
        create_cloudpayments_simulator, state=cloudpayments_simulator_state
    )
    cloudpayments = providers.Singleton(
        CloudPaymentsProvider,
        client=cloudpayments_http_client,
        base_url=settings.provided.cloudpayments_base_url,
        timeout=settings.provided.cloudpayments_timeout_seconds,
    )
    # Every provider call is logged once, counted and timed (adapters/providers/instrumented.py).
    metrics = providers.Singleton(PaygateMetrics)
    provider_calls = providers.Singleton(ProviderCallBook)
    payment_providers = providers.Singleton(
        ProviderDirectory,
        providers.Callable(
            instrument,
            # Only the providers their settings enable: `name=providers.Callable(_if_enabled, flag, adapter.provider)`.
            providers.Callable(
                _enabled,
                kaspi=providers.Callable(_if_enabled, settings.provided.kaspi_enabled, kaspi.provider),
                sandbox=providers.Callable(_if_enabled, settings.provided.sandbox_enabled, sandbox.provider),
                yookassa=providers.Callable(_if_enabled, settings.provided.yookassa_enabled, yookassa.provider),
                cloudpayments=providers.Callable(
                    _if_enabled, settings.provided.cloudpayments_enabled, cloudpayments.provider
                ),
                stripe=providers.Callable(_if_enabled, settings.provided.stripe_enabled, stripe.provider),
            ),
            metrics=metrics,
            book=provider_calls,
        ),
    )
    database_gauges = providers.Singleton(
        DatabaseGauges, engine, provider_names=payment_providers.provided.names, now=clock.provided.now
    )
    # Read at every scrape of /metrics: add a sampler here for any gauge that lives in the database.
    metric_samplers = providers.Dict(database=database_gauges.provided.sample)

    audit = providers.Singleton(AuditRecorder, uow, clock)
    sync_status = providers.Singleton(
        SyncPaymentStatus, uow=uow, routes=route_store, providers=payment_providers, audit=audit, clock=clock, ids=ids
    )
    sync_refund_status = providers.Singleton(
        SyncRefundStatus, uow=uow, routes=route_store, providers=payment_providers, audit=audit, clock=clock, ids=ids
    )
    attach_refund_outcome = providers.Singleton(AttachRefundOutcome, uow=uow, refunds=sync_refund_status)
    attach_external_id = providers.Singleton(
        AttachExternalId, uow=uow, routes=route_store, providers=payment_providers, sync=sync_status, clock=clock, ids=ids
    )
    creation_journal = providers.Singleton(journal_for, autocommit_pool, uow, metrics.provided.observe_write_batch)
    payment_lookup = providers.Singleton(lookup_for, autocommit_pool, uow)
    create_payment = providers.Singleton(
        CreatePayment, uow=uow, routes=route_store, providers=payment_providers, audit=audit, clock=clock, ids=ids,
        journal=creation_journal,
        lookup=payment_lookup,
    )
    get_payment = providers.Singleton(GetPayment, uow=uow, sync=sync_status, lookup=payment_lookup)
    handle_provider_notice = providers.Singleton(
        HandleProviderNotice, uow=uow, sync=sync_status, refunds=sync_refund_status, clock=clock
    )
    refund_payment = providers.Singleton(
        RefundPayment,
        uow=uow,
        routes=route_store,
        providers=payment_providers,
        sync=sync_status,
        refunds=sync_refund_status,
        audit=audit,
        clock=clock,
        ids=ids,
    )
    capture_payment = providers.Singleton(
        CapturePayment, uow=uow, routes=route_store, providers=payment_providers, sync=sync_status, audit=audit, clock=clock
    )
    cancel_payment = providers.Singleton(
        CancelPayment, uow=uow, routes=route_store, providers=payment_providers, sync=sync_status, audit=audit, clock=clock
    )
    list_payments = providers.Singleton(ListPayments, uow=uow)
    manage_routes = providers.Singleton(
        ManageRoutes,
        uow=uow,
        clock=clock,
        on_change=providers.List(route_store.provided.forget),
        providers=payment_providers,
    )
    list_audit_log = providers.Singleton(ListAuditLog, uow=uow)
    record_client_log = providers.Singleton(RecordClientLog, routes=route_store, audit=audit, clock=clock)
    report_payment_status = providers.Singleton(
        ReportPaymentStatus, uow=uow, routes=route_store, sync=sync_status, audit=audit, clock=clock
    )
    api_keys = providers.Singleton(
        ApiKeys, uow=uow, store=api_key_store, clock=clock, ids=ids, on_change=providers.List(api_key_store.provided.forget)
    )

    # The poller (`paygate poll`): per-provider schedules and rate limits (per poller process).
    poll_schedules = providers.Dict(kaspi=providers.Object(KASPI_POLL_SCHEDULE))
    poll_throttles = providers.Dict(
        kaspi=providers.Singleton(TokenBucketThrottle, rate=settings.provided.kaspi_rate_limit_per_second)
    )
    poll_payments = providers.Singleton(
        PollPayments,
        uow=uow,
        sync=sync_status,
        clock=clock,
        schedules=poll_schedules,
        throttles=poll_throttles,
        batch_size=settings.provided.poll_batch_size,
        concurrency=settings.provided.poll_concurrency,
        lease=providers.Callable(timedelta, seconds=settings.provided.poll_lease_seconds),
        withdraw=providers.Singleton(WithdrawBeforeExpiry, providers=payment_providers, cancel=cancel_payment),
    )
    poll_refunds = providers.Singleton(
        PollRefunds,
        uow=uow,
        refunds=sync_refund_status,
        clock=clock,
        throttles=poll_throttles,
        batch_size=settings.provided.poll_batch_size,
        lease=providers.Callable(timedelta, seconds=settings.provided.poll_lease_seconds),
    )

    # Outgoing webhooks and the broker: the dispatcher (`paygate poll`, `paygate dispatch`).
    webhook_targets = providers.Singleton(
        WebhookTargets,
        rules=providers.Singleton(
            WebhookTargetRules,
            allow_http=settings.provided.webhook_allow_http,
            allowed_networks=settings.provided.webhook_allowed_networks,
        ),
        resolver=providers.Singleton(SystemHostResolver, timeout=settings.provided.webhook_timeout_seconds),
    )
    webhook_http_client = providers.Resource(_webhook_http_client, timeout=settings.provided.webhook_timeout_seconds)
    webhook_sender = providers.Singleton(
        HttpWebhookSender,
        client=webhook_http_client,
        targets=webhook_targets,
        timeout=settings.provided.webhook_timeout_seconds,
    )
    event_publisher = providers.Resource(
        _event_publisher, url=settings.provided.broker_url, exchange=settings.provided.broker_exchange
    )
    dispatch_events = providers.Singleton(
        DispatchEvents,
        uow=uow,
        sender=webhook_sender,
        publisher=event_publisher,
        clock=clock,
        ids=ids,
        concurrency=settings.provided.webhook_concurrency,
    )
    manage_webhooks = providers.Singleton(ManageWebhooks, uow=uow, clock=clock, ids=ids, targets=webhook_targets)

    # The operator console (entrypoints/console): its reads, and the key its session cookies are signed with.
    search_payments = providers.Singleton(SearchPayments, uow=uow)
    payment_timeline = providers.Singleton(PaymentTimeline, uow=uow)
    report_reader = providers.Singleton(SqlAlchemyReports, engine)
    settlement_report = providers.Singleton(
        SettlementReport, reader=report_reader, timezone=settings.provided.report_timezone
    )
    operations_overview = providers.Singleton(
        OperationsOverview, reader=report_reader, clock=clock, timezone=settings.provided.report_timezone
    )
    console_signing_key = providers.Callable(lambda cipher: cipher.derive_key("console-session"), secret_cipher)


def build_container(settings: Settings) -> Container:
    return Container(settings=settings)


async def open_resources(container: Container) -> None:
    """Open the engine and HTTP clients; afterwards every provider hands out plain objects."""
    await container.init_resources()
    # Once the async resources exist, nothing needs awaiting to get them; without this,
    # dependency-injector would hand every dependent provider out as a Future. Singletons built
    # while the resources were opening (the caches the invalidation listener feeds) are async too.
    for provider in container.traverse():
        if provider.is_async_mode_enabled():
            provider.disable_async_mode()


async def close_resources(container: Container) -> None:
    for resource in container.traverse(types=[providers.Resource]):
        resource.enable_async_mode()
    await container.shutdown_resources()
