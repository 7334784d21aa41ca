"""Simulators only when asked for by name, and what each process says of its providers."""

from __future__ import annotations

import pytest

from config.provider_modes import Mode, provider_modes
from config.settings import Settings, SettingsError


def modes(env: dict[str, str]) -> dict[str, str]:
    return {mode.name: mode.describe() for mode in provider_modes(Settings.from_env(env))}


def test_with_no_setting_every_provider_is_off_and_nothing_is_simulated() -> None:
    settings = Settings.from_env({})

    assert (settings.kaspi_enabled, settings.kaspi_simulated, settings.sandbox_enabled) == (False, False, False)
    assert modes({}) == {"kaspi": "off", "stripe": "off", "yookassa": "off", "cloudpayments": "off", "sandbox": "off"}


def test_the_kaspi_simulator_and_the_sandbox_run_only_when_named() -> None:
    settings = Settings.from_env({"PRODUCTION_API_URL": "simulator", "SANDBOX_PROVIDER": "on", "PORT": "8099"})

    assert (settings.kaspi_enabled, settings.kaspi_simulated, settings.sandbox_enabled) == (True, True, True)
    assert settings.kaspi_base_url == "http://127.0.0.1:8099/sandbox/kaspi/api/v2/paymentkaspi"
    assert modes({"PRODUCTION_API_URL": "simulator", "SANDBOX_PROVIDER": "on"}) == {
        "kaspi": "simulator", "stripe": "off", "yookassa": "off", "cloudpayments": "off", "sandbox": "simulator",
    }


def test_a_live_provider_is_described_by_its_host_alone_never_a_path_query_or_password() -> None:
    env = {
        "PRODUCTION_API_URL": "https://merchant:pa55@proxy.example.kz:8443/api/v2/paymentkaspi?token=s3cr3t",
        "KASPI_ACCESS_TOKEN": "t0ken",
        "STRIPE_SECRET_KEY": "sk_live_x",
        "YOOKASSA_API_URL": "https://api.yookassa.ru/v3",
    }

    described = modes(env)

    assert described["kaspi"] == "live proxy.example.kz:8443"
    assert described["stripe"] == "live api.stripe.com"
    assert described["yookassa"] == "live api.yookassa.ru"
    assert [m.mode for m in provider_modes(Settings.from_env(env))].count(Mode.SIMULATOR) == 0


def test_the_simulator_needs_no_access_token_but_a_real_proxy_does() -> None:
    assert Settings.from_env({"PRODUCTION_API_URL": "simulator"}).kaspi_access_token  # the simulator's own
    with pytest.raises(SettingsError, match="KASPI_ACCESS_TOKEN"):
        Settings.from_env({"PRODUCTION_API_URL": "https://proxy.example.kz/api/v2/paymentkaspi"})


@pytest.mark.parametrize("value", ["proxy.example.kz", "ftp://proxy.example.kz", "simulated"])
def test_production_api_url_is_a_url_or_the_word_simulator(value: str) -> None:
    with pytest.raises(SettingsError, match="PRODUCTION_API_URL"):
        Settings.from_env({"PRODUCTION_API_URL": value, "KASPI_ACCESS_TOKEN": "t"})
