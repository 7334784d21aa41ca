"""A real gateway for integration tests: a migrated database with the demo sellers, keys of any scope,
served over HTTP on 127.0.0.1 with the built-in Kaspi simulator."""

from __future__ import annotations

import asyncio
import csv
import secrets
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import attrs

from application.manage_routes import RouteSpec

from adapters.persistence.migrate import upgrade

from entrypoints.http.app import create_app
from entrypoints.http.slow_clients import limited_http_protocol

from config.container import Container, build_container, close_resources, open_resources
from config.settings import SIMULATOR, Settings

from tests.support.servers import free_port, serve

DEMO_SELLERS = Path(__file__).resolve().parents[2] / "demo" / "sellers.csv"
# For tests on a database of their own that look for the key itself in what is stored.
TEST_SECRETS_KEY = "WOuLNpYJ7Zsowr_k1B6IvnRdZXnTTEh9OSQW1r5AaAA="
T = TypeVar("T")


def demo_sellers() -> list[dict[str, str]]:
    """The demo sellers, each with a device token: the real ones have none (`demo/sellers.csv`),
    but tests of how tokens are kept secret need a secret to look for. `tests/compat` uses the
    file as it is."""
    lines = [line for line in DEMO_SELLERS.read_text().splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(lines))
    for row in rows:
        row["device_token"] = row["device_token"] or f"5b1f0a2e-6c1d-4c8e-9a3b-{int(row['shop_id']):06d}000001"
    return rows


def gateway_settings(database_url: str, **changes: Any) -> Settings:
    """Settings of a test gateway on a free port with the built-in Kaspi simulator (asked for by name,
    as in production nothing is simulated by default); `changes` override any field.

    Without `secrets_keys` the development key file serves, as for every test that leaves
    SECRETS_KEY unset: the session's shared PostgreSQL database is written under that one key.
    """
    settings = Settings(
        database_url=database_url, port=free_port(), kaspi_proxy_url=SIMULATOR, kaspi_timeout_seconds=2.0
    )
    return attrs.evolve(settings, **changes)


# Every provider but Kaspi on, on its simulator. A gateway is ready only while every provider its
# active routes use is on, and the session's shared PostgreSQL database holds routes of them all.
EVERY_OTHER_PROVIDER_ON = {
    "SANDBOX_PROVIDER": "on",
    "YOOKASSA_API_URL": "simulator",
    "CLOUDPAYMENTS_API_URL": "simulator",
    "STRIPE_API_URL": "simulator",
}


def every_provider_on(settings: Settings) -> Settings:
    """`settings` with every other provider on its simulator, for a gateway expected to be ready."""
    on = Settings.from_env(EVERY_OTHER_PROVIDER_ON)
    fields = (
        "sandbox_enabled", "yookassa_api_url", "cloudpayments_api_url",
        "stripe_api_url", "stripe_secret_key", "stripe_webhook_secrets", "stripe_publishable_key",
    )
    return attrs.evolve(settings, **{field: getattr(on, field) for field in fields})


def with_container(settings: Settings, work: Callable[[Container], Awaitable[T]]) -> T:
    """Run `work` with a container of its own (another "process" than the served app's)."""

    async def run() -> T:
        container = build_container(settings)
        await open_resources(container)
        try:
            return await work(container)
        finally:
            await close_resources(container)

    return asyncio.run(run())


def prepare(settings: Settings) -> None:
    """Migrate and load the demo sellers (re-runnable: the PostgreSQL database is shared by the session)."""
    asyncio.run(upgrade(settings.database_url))

    async def load(container: Container) -> None:
        for row in demo_sellers():
            spec = RouteSpec(
                shop_id=int(row["shop_id"]),
                provider="kaspi",
                merchant_account=row["organization_bin"],
                credentials={"device_token": row["device_token"]},
            )
            await container.manage_routes().put(spec, actor="test-setup")

    with_container(settings, load)


@attrs.frozen
class IssuedKey:
    id: str
    name: str  # unique, so that audit entries can be told apart
    plaintext: str = attrs.field(repr=False)

    @property
    def header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.plaintext}"}


def issue_key(settings: Settings, scopes: Iterable[str], *, shops: Iterable[int] | None = None) -> IssuedKey:
    name = f"test-{secrets.token_hex(4)}"

    async def issue(container: Container) -> IssuedKey:
        key, plaintext = await container.api_keys().issue(name, list(scopes), shops=shops, actor="test-setup")
        return IssuedKey(key.id, name, plaintext)

    return with_container(settings, issue)


@attrs.frozen
class RunningGateway:
    base_url: str
    container: Container  # the served app's own: its engine, its caches


@contextmanager
def running_gateway(settings: Settings) -> Iterator[RunningGateway]:
    container = build_container(settings)
    with serve(create_app(container), port=settings.port, http=limited_http_protocol(settings)) as base_url:
        yield RunningGateway(base_url, container)
