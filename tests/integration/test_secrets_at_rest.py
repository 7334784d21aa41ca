"""Secrets at rest on SQLite and PostgreSQL: a database dump reveals no credential; keys rotate."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import attrs
import httpx
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.database import create_engine
from adapters.persistence.migrate import upgrade
from adapters.persistence.tables import metadata, seller_routes
from adapters.secrets import FernetCipher, generate_key

from entrypoints import cli

from config.container import Container
from config.settings import Settings

from tests.support.gateways import (
    TEST_SECRETS_KEY,
    demo_sellers,
    gateway_settings,
    issue_key,
    prepare,
    running_gateway,
    with_container,
)

NEW_SHOP_TOKEN = "7ae52134-ea55-4f3b-bc6a-b65c40eda3ad"


@pytest.fixture
def own_database_url(unmigrated_database_url: str) -> str:
    """A database of each backend for this test alone: rotation rewrites every row it holds."""
    asyncio.run(upgrade(unmigrated_database_url))
    return unmigrated_database_url


def dump(database_url: str) -> str:
    """Every row of every table as text: what a stolen backup shows."""

    async def read() -> str:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                rows = [
                    repr(tuple(row))
                    for table in metadata.sorted_tables
                    for row in await connection.execute(select(table))
                ]
        finally:
            await engine.dispose()
        return "\n".join(rows)

    return asyncio.run(read())


def stored_credentials(database_url: str) -> dict[int, str]:
    async def read() -> dict[int, str]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(select(seller_routes.c.shop_id, seller_routes.c.credentials))
                return {shop: stored for shop, stored in rows}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def device_tokens(settings: Settings) -> dict[int, str | None]:
    async def read(container: Container) -> dict[int, str | None]:
        return {route.shop_id: route.credentials.get("device_token") for route in await container.manage_routes().list()}

    return with_container(settings, read)


def test_a_database_dump_reveals_no_credential(own_database_url: str) -> None:
    database_url = own_database_url
    settings = gateway_settings(database_url, secrets_keys=(TEST_SECRETS_KEY,))
    prepare(settings)
    admin = issue_key(settings, ["admin"]).plaintext
    with running_gateway(settings) as gateway:
        added = httpx.post(
            f"{gateway.base_url}/admin/configs",
            json={"shop_id": 424_242, "organization_bin": "180340021791", "device_token": NEW_SHOP_TOKEN},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert added.status_code == 200, added.text  # the old service's answer to a create
    webhook_secret = with_container(settings, _add_webhook)

    everything = dump(database_url)

    secrets = [NEW_SHOP_TOKEN, *(row["device_token"] for row in demo_sellers()), admin, TEST_SECRETS_KEY, webhook_secret]
    assert [secret for secret in secrets if secret in everything] == []
    # ...while the gateway, holding the key, reads every one of them.
    tokens = device_tokens(settings)
    assert tokens[424_242] == NEW_SHOP_TOKEN
    assert all(tokens[int(row["shop_id"])] == row["device_token"] for row in demo_sellers())


async def _add_webhook(container: Container) -> str:
    _subscription, secret = await container.manage_webhooks().add(url="https://crm.example/paygate")
    return secret


async def _webhook_secrets(container: Container) -> list[str]:
    return [subscription.secret for subscription in await container.manage_webhooks().list()]


def test_a_gateway_with_the_wrong_key_refuses_clearly_and_shows_nothing(sqlite_url: str) -> None:
    settings = gateway_settings(sqlite_url, secrets_keys=(TEST_SECRETS_KEY,))
    prepare(settings)
    wrong = attrs.evolve(settings, secrets_keys=(generate_key(),))
    key = issue_key(wrong, ["payments", "routes:secrets"]).plaintext
    with running_gateway(wrong) as gateway:
        response = httpx.get(
            f"{gateway.base_url}/api/payment/config", params={"shop_id": 121038}, headers={"Authorization": f"Bearer {key}"}
        )
    assert (response.status_code, response.json()["error"]["code"]) == (503, "secret_unreadable")
    assert "5b1f0a2e" not in response.text


def run_cli(monkeypatch: pytest.MonkeyPatch, settings: Settings, *args: str) -> int:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SECRETS_KEY", ",".join(settings.secrets_keys))
    return cli.main(list(args))


def test_rotation_moves_every_secret_to_the_new_key_so_the_old_one_can_go(
    own_database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old = gateway_settings(own_database_url, secrets_keys=(generate_key(),))
    prepare(old)
    webhook_secret = with_container(old, _add_webhook)
    before = stored_credentials(own_database_url)
    new_key = generate_key()
    rotating = attrs.evolve(old, secrets_keys=(new_key, *old.secrets_keys))

    assert run_cli(monkeypatch, rotating, "secrets", "rotate") == 0

    after = stored_credentials(own_database_url)
    assert set(after) == set(before) and all(after[shop] != before[shop] for shop in before)
    tokens = device_tokens(attrs.evolve(old, secrets_keys=(new_key,)))
    assert all(tokens[int(row["shop_id"])] == row["device_token"] for row in demo_sellers())
    assert with_container(attrs.evolve(old, secrets_keys=(new_key,)), _webhook_secrets) == [webhook_secret]
    assert f"{len(before) + 1} stored secrets encrypted under the first SECRETS_KEY" in capsys.readouterr().err
    [entry] = with_container(old, _rotations)
    assert (entry.actor, entry.status.value) == ("cli", "success")


async def _rotations(container: Container) -> list[Any]:
    return [e for e in await container.list_audit_log().execute(shop_id=None, limit=1000) if e.operation_type == "secrets_rotate"]


def test_credentials_stored_before_encryption_are_read_flagged_by_migrate_and_encrypted_by_rotate(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = gateway_settings(sqlite_url, secrets_keys=(TEST_SECRETS_KEY,))
    legacy = f'{{"device_token": "{NEW_SHOP_TOKEN}"}}'
    asyncio.run(_insert_legacy_route(sqlite_url, legacy))
    assert device_tokens(settings)[424_242] == NEW_SHOP_TOKEN

    assert run_cli(monkeypatch, settings, "migrate") == 0
    assert "1 stored secrets predate encryption at rest" in capsys.readouterr().err
    assert run_cli(monkeypatch, settings, "secrets", "rotate") == 0

    assert NEW_SHOP_TOKEN not in dump(sqlite_url)
    assert device_tokens(settings)[424_242] == NEW_SHOP_TOKEN
    assert run_cli(monkeypatch, settings, "migrate") == 0
    assert "predate" not in capsys.readouterr().err


async def _insert_legacy_route(database_url: str, credentials: str) -> None:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "shop_id": 424_242, "provider": "kaspi", "merchant_account": "180340021791", "credentials": credentials,
        "is_active": True, "created_at": now, "updated_at": now,
    }
    engine: AsyncEngine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(seller_routes).values(values))
    finally:
        await engine.dispose()


def test_rotation_refuses_to_use_a_machines_development_key_for_a_shared_database(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.delenv("SECRETS_KEY", raising=False)
    assert cli.main(["secrets", "rotate"]) == 2
    assert "set SECRETS_KEY" in capsys.readouterr().err


def test_generate_key_prints_a_usable_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["secrets", "generate-key"]) == 0
    FernetCipher([capsys.readouterr().out.strip()])
