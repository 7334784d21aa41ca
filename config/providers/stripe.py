"""Stripe (STRIPE_SECRET_KEY, the platform's key): the adapter on its own httpx client, and the
verifier of its signed webhook events."""

from __future__ import annotations

from dependency_injector import containers, providers

from application.ports import Clock

from adapters.providers.stripe.provider import StripeProvider
from adapters.providers.stripe.webhooks import StripeWebhooks

from config.providers.resources import http_client, if_enabled
from config.settings import Settings


class StripeWiring(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    clock: providers.Dependency[Clock] = providers.Dependency()

    http_client = providers.Resource(http_client, timeout=settings.provided.stripe_timeout_seconds)
    adapter = providers.Singleton(
        StripeProvider,
        client=http_client,
        secret_key=settings.provided.stripe_secret_key,
        base_url=settings.provided.stripe_base_url,
        timeout=settings.provided.stripe_timeout_seconds,
    )
    enabled_adapter = providers.Callable(if_enabled, settings.provided.stripe_enabled, adapter.provider)
    webhooks = providers.Singleton(StripeWebhooks, secrets=settings.provided.stripe_webhook_secrets, clock=clock)
