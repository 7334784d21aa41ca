"""YooKassa (YOOKASSA_API_URL): the adapter on its own httpx client."""

from __future__ import annotations

from dependency_injector import containers, providers

from adapters.providers.yookassa.provider import YooKassaProvider

from config.providers.resources import http_client, if_enabled
from config.settings import Settings


class YooKassaWiring(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    http_client = providers.Resource(http_client, timeout=settings.provided.yookassa_timeout_seconds)
    adapter = providers.Singleton(
        YooKassaProvider,
        client=http_client,
        base_url=settings.provided.yookassa_base_url,
        timeout=settings.provided.yookassa_timeout_seconds,
    )
    enabled_adapter = providers.Callable(if_enabled, settings.provided.yookassa_enabled, adapter.provider)
