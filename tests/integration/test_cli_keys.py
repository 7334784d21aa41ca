"""`paygate keys create | list | revoke` on a real database, and revocation across processes on SQLite."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from config.container import Container

from tests.support.cli import cli_runner
from tests.support.gateways import gateway_settings, issue_key, prepare, running_gateway, with_container


@pytest.fixture
def paygate(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    return cli_runner(capsys)


def test_create_prints_the_key_alone_and_list_never_shows_it(paygate: Any, sqlite_url: str) -> None:
    prepare(gateway_settings(sqlite_url))  # the demo sellers: a key reaches only shops that have a route
    code, out, _ = paygate("keys", "create", "--name", "eileen", "--scope", "payments:read", "--scope", "payments:write",
                           "--shop", "121038", "--shop", "576631")
    assert code == 0
    [plaintext] = out.splitlines()
    assert plaintext.startswith("pgk_")

    code, out, _ = paygate("keys", "list")
    assert code == 0
    [listed] = json.loads(out)
    assert set(listed) == {"id", "name", "prefix", "scopes", "shops", "created_at", "revoked_at"}
    assert (listed["name"], listed["scopes"], listed["shops"], listed["revoked_at"]) == (
        "eileen", ["payments:read", "payments:write"], [121038, 576631], None,
    )
    assert plaintext.startswith(listed["prefix"]) and len(listed["prefix"]) < len(plaintext) // 3
    assert plaintext not in out and plaintext[len(listed["prefix"]):] not in out


def test_revoke_stops_a_key_and_is_audited_with_the_cli_as_actor(paygate: Any, sqlite_url: str) -> None:
    paygate("keys", "create", "--name", "leaked", "--scope", "admin")
    [key] = json.loads(paygate("keys", "list")[1])

    code, out, _ = paygate("keys", "revoke", key["id"])

    assert code == 0
    assert json.loads(out)["revoked_at"] is not None
    [listed] = json.loads(paygate("keys", "list")[1])
    assert listed["revoked_at"] == json.loads(out)["revoked_at"]

    async def audit(container: Container) -> list[tuple[str, str | None, str | None]]:
        entries = await container.list_audit_log().execute(shop_id=None, limit=100)
        return [(e.operation_type, e.external_id, e.actor) for e in entries]

    assert with_container(gateway_settings(sqlite_url), audit) == [
        ("api_key_revoke", key["id"], "cli"),
        ("api_key_create", key["id"], "cli"),
    ]


def test_revoking_an_unknown_key_fails_clearly(paygate: Any) -> None:
    code, _, err = paygate("keys", "revoke", "key_nope")
    assert code == 2
    assert "API key key_nope not found" in err


@pytest.mark.parametrize(
    "args",
    [
        ["keys", "create", "--scope", "root"],
        ["keys", "create", "--scope", "payments", "--shop", "abc"],
    ],
)
def test_create_refuses_unknown_scopes_and_shops(paygate: Any, args: list[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        paygate(*args)
    assert refused.value.code == 2


def test_create_refuses_a_shop_id_out_of_range(paygate: Any) -> None:
    code, _, err = paygate("keys", "create", "--scope", "payments", "--shop", "0")
    assert code == 2 and "shop_id" in err


def test_on_sqlite_a_key_revoked_elsewhere_stops_working_within_the_cache_ttl(sqlite_url: str) -> None:
    # SQLite has no notices between processes: the cache's TTL is the bound, as documented.
    settings = gateway_settings(sqlite_url, cache_ttl_seconds=0.5)
    prepare(settings)
    key = issue_key(settings, ["payments"])
    with running_gateway(settings) as gateway:
        url = f"{gateway.base_url}/api/payment/config"
        assert httpx.get(url, params={"shop_id": 121038}, headers=key.header).status_code == 200

        async def revoke(container: Container) -> None:
            await container.api_keys().revoke(key.id, actor="elsewhere")

        with_container(settings, revoke)
        revoked_at = time.monotonic()
        while httpx.get(url, params={"shop_id": 121038}, headers=key.header).status_code != 401:
            assert time.monotonic() - revoked_at < 5, "the revoked key still works"
            time.sleep(0.05)
