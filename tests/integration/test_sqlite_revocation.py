"""Revocation at once on SQLite too: no process there hears of another's change (no LISTEN/NOTIFY),
so a running server must refuse a key revoked by another process at that key's very next request,
whatever CACHE_TTL_SECONDS says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.gateways import gateway_settings, issue_key, prepare, running_gateway

ROOT = Path(__file__).resolve().parents[2]
SHOP = 121038
LONG_TTL = 600.0  # far longer than the test: a cache would still hold the key


def test_a_key_revoked_by_another_process_on_the_same_sqlite_file_is_refused_at_its_next_request(
    sqlite_url: str,
) -> None:
    settings = gateway_settings(sqlite_url, cache_ttl_seconds=LONG_TTL)
    prepare(settings)
    key = issue_key(settings, ["payments"])
    other = issue_key(settings, ["payments"])

    with running_gateway(settings) as gateway, httpx.Client(base_url=gateway.base_url, timeout=10) as http:

        def config(headers: dict[str, str]) -> int:
            return http.get("/api/payment/config", params={"shop_id": SHOP}, headers=headers).status_code

        assert [config(key.header) for _ in range(3)] == [200] * 3  # known to the server, as warm as it gets

        revoked = subprocess.run(
            [sys.executable, "-m", "entrypoints.cli", "keys", "revoke", key.id],
            cwd=ROOT, env=os.environ | {"DATABASE_URL": sqlite_url}, capture_output=True, text=True, timeout=60,
            check=False,
        )
        assert revoked.returncode == 0, revoked.stderr

        assert config(key.header) == 401  # the very next request
        assert config(other.header) == 200  # and only that key
