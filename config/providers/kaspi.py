"""Kaspi Pay through the merchant's proxy (PRODUCTION_API_URL): plain aiohttp GETs, its own poll
schedule and a rate limit per poller process."""

from __future__ import annotations

from dependency_injector import containers, providers

from adapters.providers.kaspi_proxy.polling import KASPI_POLL_SCHEDULE
from adapters.providers.kaspi_proxy.provider import KaspiProxyProvider
from adapters.throttle import TokenBucketThrottle

from config.providers.resources import if_enabled, plain_http_client
from config.settings import Settings


class KaspiWiring(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    http_client = providers.Resource(plain_http_client)
    adapter = providers.Singleton(
        KaspiProxyProvider,
        client=http_client,
        base_url=settings.provided.kaspi_base_url,
        access_token=settings.provided.kaspi_access_token,
        timeout=settings.provided.kaspi_timeout_seconds,
    )
    enabled_adapter = providers.Callable(if_enabled, settings.provided.kaspi_enabled, adapter.provider)
    poll_schedule = providers.Object(KASPI_POLL_SCHEDULE)
    poll_throttle = providers.Singleton(TokenBucketThrottle, rate=settings.provided.kaspi_rate_limit_per_second)
