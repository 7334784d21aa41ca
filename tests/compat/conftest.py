"""The old service's real callers against a real gateway, on SQLite and on PostgreSQL.

The gateway runs as a cut-over runs it: the sellers of `demo/sellers.csv` as they are (BINs, no
device tokens), the Kaspi simulator on its own port, a reverse proxy at 127.0.0.1 (TRUSTED_PROXIES)
and the old callers' addresses in LEGACY_TRUSTED_NETWORKS: 127.0.0.2 connecting directly, and
10.20.0.0/16 behind the proxy. Loopback is a /8, so a client can connect from any of these.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.persistence.migrate import upgrade

from entrypoints.route_import import import_routes

from config.container import Container
from config.settings import Settings

from tests.support.databases import BACKENDS
from tests.support.gateways import RunningGateway, gateway_settings, issue_key, with_container

SELLERS = Path(__file__).resolve().parents[2] / "demo" / "sellers.csv"
PROXY = "127.0.0.1"  # the reverse proxy in front of the gateway (and where test controls come from)
LEGACY_HOST = "127.0.0.2"  # an old caller connecting directly
FORWARDED_LEGACY = "10.20.4.5"  # an old caller behind the proxy
UNTRUSTED_HOST = "127.0.0.3"


@pytest.fixture(scope="module", params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('compat') / 'paygate.db'}"
        asyncio.run(upgrade(url))
        return url
    own: str = request.getfixturevalue("own_postgres_url")
    return own


@pytest.fixture(scope="module")
def settings(database: str) -> Settings:
    settings = gateway_settings(
        database,
        trusted_proxies=(ipaddress.ip_network(f"{PROXY}/32"),),
        legacy_trusted_networks=(ipaddress.ip_network(f"{LEGACY_HOST}/32"), ipaddress.ip_network("10.20.0.0/16")),
    )

    async def load(container: Container) -> None:
        report = await import_routes(container.manage_routes(), SELLERS, actor="compat-setup")
        assert report.errors == []

    with_container(settings, load)
    return settings


def client_from(gateway: RunningGateway, host: str, **options: Any) -> httpx.Client:
    """A client whose connections leave from `host`: what the gateway sees as the peer address."""
    transport = httpx.HTTPTransport(local_address=host)
    return httpx.Client(base_url=gateway.base_url, transport=transport, timeout=30, **options)


@pytest.fixture
def backend(gateway: RunningGateway) -> Iterator[httpx.Client]:
    """The marketplace backend's Python client: no Authorization header at all."""
    with client_from(gateway, LEGACY_HOST) as http:
        yield http


@pytest.fixture
def bitrix(gateway: RunningGateway) -> Iterator[httpx.Client]:
    """The Bitrix client as installed: no key configured, behind the marketplace's proxy."""
    with client_from(gateway, PROXY, headers={"X-Forwarded-For": FORWARDED_LEGACY}) as http:
        yield http


@pytest.fixture
def operator(gateway: RunningGateway, settings: Settings) -> Iterator[httpx.Client]:
    """The old service's admin tools, with an admin key."""
    key = issue_key(settings, ["admin"]).plaintext
    with client_from(gateway, PROXY, headers={"Authorization": f"Bearer {key}"}) as http:
        yield http


@pytest.fixture
def kaspi(gateway: RunningGateway) -> Iterator[httpx.Client]:
    """The Kaspi simulator's controls (what the proxy received, faults, the customer's app)."""
    with httpx.Client(base_url=f"{gateway.base_url}/sandbox/kaspi", timeout=10) as http:
        http.post("/knobs", json={"fault": "none", "latency_ms": 0, "hold_answer_ms": 0})
        yield http
        http.post("/knobs", json={"fault": "none", "latency_ms": 0, "hold_answer_ms": 0})


def proxy_calls(kaspi: httpx.Client, operation: str, message: str) -> list[dict[str, str]]:
    """The calls the Kaspi proxy received for the payment with this message."""
    requests = kaspi.get("/requests").json()
    return [r["params"] for r in requests if r["operation"] == operation and r["params"].get("message") == message]
