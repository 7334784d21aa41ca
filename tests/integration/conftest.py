"""Integration fixtures shared by several modules: an admin key of the shared gateway (its `settings`
and `gateway` come from tests/support/gateway_fixtures.py), and the CLI tests' environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Settings

from tests.support.gateways import IssuedKey, gateway_settings, issue_key, prepare
from tests.support.servers import KaspiSimulatorServer


@pytest.fixture(scope="module")
def key(settings: Settings) -> IssuedKey:
    """A key of the `payments` and `admin` scopes."""
    return issue_key(settings, ["payments", "admin"])


@pytest.fixture
def environment(
    sqlite_url: str, kaspi_simulator: KaspiSimulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    variables = {
        "DATABASE_URL": sqlite_url,
        "PRODUCTION_API_URL": kaspi_simulator.base_url,
        "KASPI_ACCESS_TOKEN": kaspi_simulator.access_token,
        "SECRETS_KEY_FILE": str(tmp_path / "secrets.key"),
        "WEBHOOK_ALLOW_HTTP": "true",  # the test's CRM listens on 127.0.0.1
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env(variables)
    prepare(gateway_settings(sqlite_url, secrets_key_file=variables["SECRETS_KEY_FILE"]))
    return settings
