"""The composition root: the one place that knows every concrete class."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as redis
from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.webhook_targets import WebhookTargetRules

from application.api_keys import ApiKeys
from application.audit import AuditRecorder
from application.audit_log import ListAuditLog
from application.cancel_payment import CancelPayment
from application.capture_payment import CapturePayment
from application.checkout_status import CheckoutStatus
from application.client_reports import RecordClientLog, ReportPaymentStatus
from application.create_payment import CreatePayment
from application.dispatch_events import DispatchEvents
from application.get_payment import GetPayment
from application.implicit_idempotency import ImplicitIdempotencyKeys
from application.list_payments import ListPayments
from application.manage_routes import ManageRoutes
from application.manage_webhooks import ManageWebhooks
from application.operations_overview import OperationsOverview
from application.payment_timeline import PaymentTimeline
from application.poll_payments import PollPayments, WithdrawBeforeExpiry
from application.poll_refunds import PollRefunds
from application.ports import PaymentProvider
from application.provider_notices import HandleProviderNotice
from application.providers import ProviderDirectory
from application.recover_payment import AttachExternalId
from application.recover_refund import AttachRefundOutcome
from application.refund_payment import RefundPayment
from application.search_payments import SearchPayments
from application.settlement_report import SettlementReport
from application.sync_refund_status import SyncRefundStatus
from application.sync_status import SyncPaymentStatus
from application.webhook_targets import WebhookTargets

from adapters.caching import CachedApiKeyStore, CachedRouteStore, CacheInvalidation
from adapters.checkout_tokens import CheckoutTokens
from adapters.metrics import PaygateMetrics
from adapters.notifications.rabbitmq import RabbitMqPublisher
from adapters.notifications.targets import PinnedResolver, SystemHostResolver
from adapters.notifications.webhooks import HttpWebhookSender
from adapters.persistence.creation_journal import journal_for
from adapters.persistence.database import AutocommitPool, autocommit_pool, create_engine, libpq_url
from adapters.persistence.gauges import DatabaseGauges
from adapters.persistence.idempotency import idempotency_store_for
from adapters.persistence.implicit_idempotency import SqlImplicitIdempotency
from adapters.persistence.invalidation import Invalidate, InvalidationListener
from adapters.persistence.migrate import check_migrated
from adapters.persistence.payment_lookup import lookup_for
from adapters.persistence.probe import DatabaseProbe
from adapters.persistence.reports import SqlAlchemyReports
from adapters.persistence.stores import SqlAlchemyApiKeyStore, SqlAlchemyRouteStore
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.providers.http_client import build_http_client
from adapters.providers.instrumented import ProviderCallBook, instrument
from adapters.rate_limit import InProcessTokenBucket, NoRateLimit, RedisTokenBucket
from adapters.secrets import FernetCipher, configured_cipher, development_key
from adapters.system import SystemClock, UlidGenerator

from config.providers.cloudpayments import CloudPaymentsWiring
from config.providers.kaspi import KaspiWiring
from config.providers.sandbox import SandboxWiring
from config.providers.stripe import StripeWiring
from config.providers.yookassa import YooKassaWiring
from config.settings import Settings
from config.simulators import Simulators


async def _engine(url: str, pool_size: int, pool_timeout: float) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url, pool_size=pool_size, pool_timeout=pool_timeout)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _autocommit_pool(url: str, size: int, timeout: float) -> AsyncIterator[AutocommitPool | None]:
    async with autocommit_pool(url, size=size, timeout=timeout) as pool:
        yield pool


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


def _enabled(**adapters: PaymentProvider | None) -> dict[str, PaymentProvider]:
    return {name: adapter for name, adapter in adapters.items() if adapter is not None}


def _startup_check(engine: AsyncEngine) -> Callable[[], Awaitable[None]]:
    return functools.partial(check_migrated, engine)


async def _checkout_tokens(keys: tuple[str, ...], key_file: str) -> AsyncIterator[CheckoutTokens]:
    # The development key file stands in for SECRETS_KEY exactly as it does for the cipher.
    keys = keys or (await asyncio.to_thread(development_key, Path(key_file)),)
    yield CheckoutTokens.from_secrets_keys(keys)


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


def _console_signing_key(cipher: FernetCipher) -> bytes:
    return cipher.derive_key("console-session")


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

    # Encrypts secrets at rest: route credentials here, webhook secrets wherever they are stored.
    # Signs the links a customer's browser follows without a key: QR pictures, hosted pay pages.
    checkout_tokens = providers.Resource(
        _checkout_tokens, keys=settings.provided.secrets_keys, key_file=settings.provided.secrets_key_file
    )
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

    # The providers, one wiring module each (config/providers/); simulators only where a setting
    # names them (config/simulators.py), the sandbox's gateway always in the process.
    simulators = providers.Container(Simulators, settings=settings)
    kaspi = providers.Container(KaspiWiring, settings=settings)
    sandbox = providers.Container(SandboxWiring, settings=settings, gateway=simulators.sandbox_api)
    yookassa = providers.Container(YooKassaWiring, settings=settings)
    stripe = providers.Container(StripeWiring, settings=settings, clock=clock)
    cloudpayments = providers.Container(CloudPaymentsWiring, settings=settings)
    stripe_webhooks = stripe.webhooks
    # Every provider call is logged once, counted and timed (adapters/providers/instrumented.py).
    metrics = providers.Singleton(PaygateMetrics)
    provider_calls = providers.Singleton(ProviderCallBook)
    payment_providers = providers.Singleton(
        ProviderDirectory,
        providers.Callable(
            instrument,
            # Only the providers their settings enable (each wiring's `enabled_adapter`).
            providers.Callable(
                _enabled,
                kaspi=kaspi.enabled_adapter,
                sandbox=sandbox.enabled_adapter,
                yookassa=yookassa.enabled_adapter,
                cloudpayments=cloudpayments.enabled_adapter,
                stripe=stripe.enabled_adapter,
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
        AttachExternalId,
        uow=uow, routes=route_store, providers=payment_providers, sync=sync_status, clock=clock, ids=ids,
    )
    creation_journal = providers.Singleton(journal_for, autocommit_pool, uow, metrics.provided.observe_write_batch)
    payment_lookup = providers.Singleton(lookup_for, autocommit_pool, uow)
    create_payment = providers.Singleton(
        CreatePayment, uow=uow, routes=route_store, providers=payment_providers, audit=audit, clock=clock, ids=ids,
        journal=creation_journal,
        lookup=payment_lookup,
    )
    get_payment = providers.Singleton(GetPayment, uow=uow, sync=sync_status, lookup=payment_lookup)
    checkout_status = providers.Singleton(CheckoutStatus, get_payment=get_payment, clock=clock)
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
        CapturePayment,
        uow=uow, routes=route_store, providers=payment_providers, sync=sync_status, audit=audit, clock=clock,
    )
    cancel_payment = providers.Singleton(
        CancelPayment,
        uow=uow, routes=route_store, providers=payment_providers, sync=sync_status, audit=audit, clock=clock,
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
        ApiKeys,
        uow=uow, store=api_key_store, clock=clock, ids=ids, on_change=providers.List(api_key_store.provided.forget),
    )

    # The poller (`paygate poll`): per-provider schedules and rate limits (per poller process).
    poll_schedules = providers.Dict(kaspi=kaspi.poll_schedule)
    poll_throttles = providers.Dict(kaspi=kaspi.poll_throttle)
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
    webhook_host_resolver = providers.Singleton(SystemHostResolver, timeout=settings.provided.webhook_timeout_seconds)
    webhook_targets = providers.Singleton(
        WebhookTargets,
        rules=providers.Singleton(
            WebhookTargetRules,
            allow_http=settings.provided.webhook_allow_http,
            allowed_networks=settings.provided.webhook_allowed_networks,
        ),
        resolver=webhook_host_resolver,
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
        batch_size=settings.provided.poll_batch_size,
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
    console_signing_key = providers.Callable(_console_signing_key, secret_cipher)


def build_container(settings: Settings) -> Container:
    return Container(settings=settings)


async def open_resources(container: Container) -> None:
    """Open the engine and HTTP clients; afterwards every provider hands out plain objects."""
    opening = container.init_resources()
    if opening is not None:  # None when no resource is asynchronous
        await opening
    # Once the async resources exist, nothing needs awaiting to get them; without this,
    # dependency-injector would hand every dependent provider out as a Future. Singletons built
    # while the resources were opening (the caches the invalidation listener feeds) are async too.
    provider: providers.Provider[Any]
    for provider in container.traverse():
        if provider.is_async_mode_enabled():
            provider.disable_async_mode()


async def close_resources(container: Container) -> None:
    for resource in container.traverse(types=[providers.Resource]):
        resource.enable_async_mode()
    closing = container.shutdown_resources()
    if closing is not None:
        await closing
