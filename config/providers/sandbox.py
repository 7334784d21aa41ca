"""The sandbox provider (SANDBOX_PROVIDER): the adapter over the in-process sandbox, whose gateway
config/simulators.py builds and passes in as `gateway` (this module never imports a simulator)."""

from __future__ import annotations

from dependency_injector import containers, providers

from adapters.providers.sandbox.provider import SandboxProvider
from adapters.providers.sandbox.wire import SandboxApi

from config.providers.resources import if_enabled
from config.settings import Settings


class SandboxWiring(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    gateway: providers.Dependency[SandboxApi] = providers.Dependency()  # config/simulators.py's SandboxClient

    adapter = providers.Singleton(SandboxProvider, gateway=gateway, timeout=settings.provided.sandbox_timeout_seconds)
    enabled_adapter = providers.Callable(if_enabled, settings.provided.sandbox_enabled, adapter.provider)
