"""The composition root: the one place that knows every concrete class."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.database import create_engine
from adapters.persistence.migrate import check_migrated
from adapters.persistence.probe import DatabaseProbe
from adapters.persistence.stores import SqlAlchemyApiKeyStore, SqlAlchemyIdempotencyStore, SqlAlchemyRouteStore
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.providers.http_client import build_http_client
from adapters.providers.kaspi_proxy.provider import KaspiProxyProvider
from adapters.providers.kaspi_proxy.simulator import KaspiSimulatorState, create_kaspi_simulator
from adapters.system import SystemClock, UlidGenerator
from application.api_keys import ApiKeys
from application.audit import AuditRecorder
from application.audit_log import ListAuditLog
from application.create_payment import CreatePayment
from application.get_payment import GetPayment
from application.manage_routes import ManageRoutes
from application.providers import ProviderDirectory
from application.refund_payment import RefundPayment
from application.sync_status import SyncPaymentStatus
from config.settings import Settings


async def _engine(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _http_client(timeout: float) -> AsyncIterator[httpx.AsyncClient]:
    client = build_http_client(timeout=timeout)
    try:
        yield client
    finally:
        await client.aclose()


def _startup_check(engine: AsyncEngine) -> Callable[[], Awaitable[None]]:
    return functools.partial(check_migrated, engine)


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(UlidGenerator)

    # Resources: opened by the HTTP lifespan or the CLI runner, closed by them.
    engine = providers.Resource(_engine, url=settings.provided.database_url)
    kaspi_http_client = providers.Resource(_http_client, timeout=settings.provided.kaspi_timeout_seconds)

    uow = providers.Callable(functools.partial, SqlAlchemyUnitOfWork, engine)
    route_store = providers.Singleton(SqlAlchemyRouteStore, engine)
    idempotency_store = providers.Singleton(SqlAlchemyIdempotencyStore, engine)
    api_key_store = providers.Singleton(SqlAlchemyApiKeyStore, engine)
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
    payment_providers = providers.Singleton(ProviderDirectory, providers.Dict(kaspi=kaspi))

    audit = providers.Singleton(AuditRecorder, uow, clock)
    sync_status = providers.Singleton(
        SyncPaymentStatus, uow=uow, routes=route_store, providers=payment_providers, audit=audit, clock=clock
    )
    create_payment = providers.Singleton(
        CreatePayment, uow=uow, routes=route_store, providers=payment_providers, audit=audit, clock=clock, ids=ids
    )
    get_payment = providers.Singleton(GetPayment, uow=uow, sync=sync_status)
    refund_payment = providers.Singleton(
        RefundPayment,
        uow=uow,
        routes=route_store,
        providers=payment_providers,
        sync=sync_status,
        audit=audit,
        clock=clock,
        ids=ids,
    )
    manage_routes = providers.Singleton(ManageRoutes, uow=uow, clock=clock)
    list_audit_log = providers.Singleton(ListAuditLog, uow=uow)
    api_keys = providers.Singleton(ApiKeys, store=api_key_store, clock=clock, ids=ids)


def build_container(settings: Settings) -> Container:
    return Container(settings=settings)


async def open_resources(container: Container) -> None:
    """Open the engine and HTTP clients; afterwards every provider hands out plain objects."""
    await container.init_resources()
    # Once the async resources exist, nothing needs awaiting to get them; without this,
    # dependency-injector would hand every dependent provider out as a Future.
    for resource in container.traverse(types=[providers.Resource]):
        resource.disable_async_mode()


async def close_resources(container: Container) -> None:
    for resource in container.traverse(types=[providers.Resource]):
        resource.enable_async_mode()
    await container.shutdown_resources()
