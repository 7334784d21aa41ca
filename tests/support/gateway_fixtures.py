"""The gateway fixtures most HTTP tests share: a migrated PostgreSQL gateway's `settings` (a module
overrides it for other settings) and that `gateway` running on loopback for the module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from config.settings import Settings

from tests.support.gateways import RunningGateway, gateway_settings, prepare, running_gateway


@pytest.fixture(scope="module")
def settings(postgres_url: str) -> Settings:
    settings = gateway_settings(postgres_url)
    prepare(settings)
    return settings


@pytest.fixture(scope="module")
def gateway(settings: Settings) -> Iterator[RunningGateway]:
    with running_gateway(settings) as gateway:
        yield gateway
