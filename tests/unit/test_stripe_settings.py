"""Stripe's settings: what turns it on, where it points, and which secrets stay out of logs."""

from __future__ import annotations

import pytest

from config.settings import Settings, SettingsError


def test_stripe_is_off_until_a_secret_key_or_its_simulator_is_configured() -> None:
    assert Settings.from_env({}).stripe_enabled is False


def test_a_secret_key_turns_stripe_on_against_stripe_s_own_api() -> None:
    settings = Settings.from_env(
        {"STRIPE_SECRET_KEY": "sk_live_platform", "STRIPE_WEBHOOK_SECRETS": "whsec_new, whsec_old ,"}
    )

    assert (settings.stripe_enabled, settings.stripe_simulated) == (True, False)
    assert settings.stripe_base_url == "https://api.stripe.com"
    assert settings.stripe_webhook_secrets == ("whsec_new", "whsec_old")
    assert {"sk_live_platform", "whsec_new", "whsec_old"} <= set(settings.secrets())
    assert "sk_live_platform" not in repr(settings) and "whsec_new" not in repr(settings)


def test_the_simulator_runs_on_the_gateway_s_own_port_with_its_own_key_and_secret() -> None:
    settings = Settings.from_env({"STRIPE_API_URL": "simulator", "PORT": "8099"})

    assert (settings.stripe_enabled, settings.stripe_simulated) == (True, True)
    assert settings.stripe_base_url == "http://127.0.0.1:8099/sandbox/stripe"
    assert settings.stripe_simulator_webhook_url == "http://127.0.0.1:8099/webhooks/stripe"
    assert settings.stripe_webhook_secrets  # the simulator signs what the endpoint checks


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"STRIPE_API_URL": "https://stripe.internal.example"}, "STRIPE_SECRET_KEY"),
        ({"STRIPE_API_URL": "api.stripe.com", "STRIPE_SECRET_KEY": "sk_x"}, "STRIPE_API_URL"),
        ({"STRIPE_SECRET_KEY": "sk_x", "STRIPE_TIMEOUT_SECONDS": "0"}, "STRIPE_TIMEOUT_SECONDS"),
    ],
)
def test_a_stripe_misconfiguration_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)
