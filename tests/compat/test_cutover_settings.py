"""LEGACY_TRUSTED_NETWORKS, as the cut-over guide has an operator set it: the old callers' addresses,
never a catch-all, never overlapping TRUSTED_PROXIES (whose X-Forwarded-For is believed)."""

from __future__ import annotations

import pytest

from config.settings import Settings, SettingsError


def test_the_old_callers_addresses_are_listed_and_keyless_creates_are_idempotent_for_ten_minutes() -> None:
    settings = Settings.from_env({"LEGACY_TRUSTED_NETWORKS": "10.0.5.17, 10.0.6.0/24,2001:db8::/64"})

    assert [str(n) for n in settings.legacy_trusted_networks] == ["10.0.5.17/32", "10.0.6.0/24", "2001:db8::/64"]
    assert settings.legacy_implicit_idempotency_seconds == 600


def test_no_legacy_network_by_default() -> None:
    assert Settings.from_env({}).legacy_trusted_networks == ()


@pytest.mark.parametrize("catch_all", ["0.0.0.0/0", "::/0", "10.0.0.0/7", "2000::/3", "128.0.0.0/1"])
def test_a_catch_all_is_refused(catch_all: str) -> None:
    with pytest.raises(SettingsError, match="LEGACY_TRUSTED_NETWORKS"):
        Settings.from_env({"LEGACY_TRUSTED_NETWORKS": catch_all})


@pytest.mark.parametrize(("legacy", "proxies"), [("10.0.0.0/16", "10.0.3.4"), ("10.0.3.4", "10.0.0.0/8"), ("fd00::/64", "fd00::1")])
def test_a_network_overlapping_a_trusted_proxy_is_refused(legacy: str, proxies: str) -> None:
    with pytest.raises(SettingsError, match="overlaps TRUSTED_PROXIES"):
        Settings.from_env({"LEGACY_TRUSTED_NETWORKS": legacy, "TRUSTED_PROXIES": proxies})


@pytest.mark.parametrize("value", ["0", "-5", "ten"])
def test_the_implicit_idempotency_window_must_be_a_positive_number(value: str) -> None:
    with pytest.raises(SettingsError, match="LEGACY_IMPLICIT_IDEMPOTENCY_SECONDS"):
        Settings.from_env({"LEGACY_IMPLICIT_IDEMPOTENCY_SECONDS": value})
