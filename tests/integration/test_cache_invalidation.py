"""Route and key caches on real PostgreSQL: no database round trip once warm, and a change made by
another process (the CLI) reaches a running server at once through LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import event, update

from adapters.persistence.database import create_engine
from adapters.persistence.invalidation import APPLICATION_NAME
from adapters.persistence.tables import api_keys

from config.settings import Settings

from tests.support.gateways import RunningGateway, gateway_settings, issue_key, prepare, running_gateway

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
SHOP = 121038
# Far longer than any test: only an invalidation can explain a change seen within it.
LONG_TTL = 600.0
DEADLINE = 5.0


@pytest.fixture(scope="module")
def settings(postgres_url: str) -> Settings:
    settings = gateway_settings(postgres_url, cache_ttl_seconds=LONG_TTL)
    prepare(settings)
    return settings


def config(gateway: RunningGateway, header: dict[str, str], shop: int = SHOP) -> httpx.Response:
    return httpx.get(f"{gateway.base_url}/api/payment/config", params={"shop_id": shop}, headers=header, timeout=10)


def cli_in_another_process(settings: Settings, *args: str) -> str:
    environment = os.environ | {"DATABASE_URL": settings.database_url, "PRODUCTION_API_URL": "simulator"}
    finished = subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", *args],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60, check=False,
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stdout


def eventually(check: Callable[[], bool], *, within: float = DEADLINE) -> float:
    """Seconds until `check` held; fails the test if it did not within the deadline."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within:
            pytest.fail(f"not true within {within} s")
        time.sleep(0.02)
    return time.monotonic() - start


def revoke_behind_the_gateways_back(settings: Settings, key_id: str) -> None:
    """A write that announces nothing: only the TTL could make a cache see it."""

    async def write() -> None:
        engine = create_engine(settings.database_url)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=api_keys.c.created_at)
                )
        finally:
            await engine.dispose()

    asyncio.run(write())


def test_a_warm_key_is_served_from_memory(gateway: RunningGateway, settings: Settings) -> None:
    key = issue_key(settings, ["payments"])
    assert config(gateway, key.header).status_code == 200

    revoke_behind_the_gateways_back(settings, key.id)

    # The cache is really in use: without a notice the server keeps the key it knows...
    assert config(gateway, key.header).status_code == 200
    # ...while a fresh server, with nothing cached, reads the database.
    with running_gateway(gateway_settings(settings.database_url)) as fresh:
        assert config(fresh, key.header).status_code == 401


def test_a_key_revoked_by_the_cli_in_another_process_stops_working_at_once(
    gateway: RunningGateway, settings: Settings
) -> None:
    key = issue_key(settings, ["payments"])
    assert config(gateway, key.header).status_code == 200  # warm: cached for LONG_TTL

    cli_in_another_process(settings, "keys", "revoke", key.id)

    took = eventually(lambda: config(gateway, key.header).status_code == 401)
    assert took < DEADLINE


def test_a_route_added_by_the_cli_in_another_process_is_seen_at_once(
    gateway: RunningGateway, settings: Settings
) -> None:
    key = issue_key(settings, ["payments"])
    shop = 400_000 + int.from_bytes(os.urandom(2), "big")
    assert config(gateway, key.header, shop).status_code == 404  # "no such shop" is cached too

    cli_in_another_process(settings, "routes", "add", "--shop-id", str(shop), "--bin", "180340021791", "--device-token", "t")

    eventually(lambda: config(gateway, key.header, shop).status_code == 200)
    assert config(gateway, key.header, shop).json()["organization_bin"] == "180340021791"


def test_once_warm_authentication_and_route_lookup_cost_no_database_round_trip(
    gateway: RunningGateway, settings: Settings
) -> None:
    key = issue_key(settings, ["payments"])
    engine = gateway.container.engine().sync_engine

    def statements_in_fifty_requests() -> int:
        assert config(gateway, key.header).status_code == 200  # warm
        statements: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            for _ in range(50):
                assert config(gateway, key.header).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(statements)

    # Uncached, 50 requests cost 100 statements. A window may see a few if the PostgreSQL server
    # dropped the listener meanwhile (the caches are cleared then): one clean window proves it.
    windows = [statements_in_fifty_requests() for _ in range(3)]
    assert min(windows) == 0, windows


def listening_backends(settings: Settings) -> set[int]:
    conninfo = settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            (APPLICATION_NAME,),
        ).fetchall()
    return {pid for (pid,) in rows}


def test_the_listener_reconnects_after_losing_its_connection_and_forgets_what_it_may_have_missed(
    gateway: RunningGateway, settings: Settings
) -> None:
    key = issue_key(settings, ["payments"])
    assert config(gateway, key.header).status_code == 200
    before = listening_backends(settings)
    assert before, "no listener connected"
    conninfo = settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as admin:
        for pid in before:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    # While it is away, the key is revoked without a notice reaching this server...
    revoke_behind_the_gateways_back(settings, key.id)

    eventually(lambda: bool(listening_backends(settings) - before))

    # ...so once back, it dropped everything it cached: the revocation is seen.
    eventually(lambda: config(gateway, key.header).status_code == 401)
