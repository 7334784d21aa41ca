"""The settings that bound what reaches Paygate and what Paygate reaches: slow clients, webhook targets."""

from __future__ import annotations

import ipaddress

import pytest

from config.settings import Settings, SettingsError


def test_by_default_webhooks_go_to_public_https_targets_and_slow_clients_get_ten_seconds() -> None:
    settings = Settings.from_env({})

    assert (settings.webhook_allow_http, settings.webhook_allowed_networks) == (False, ())
    assert (settings.http_header_timeout_seconds, settings.http_body_timeout_seconds) == (10.0, 10.0)
    assert settings.http_max_header_bytes == 16 * 1024


def test_the_demo_s_allowances_are_read() -> None:
    settings = Settings.from_env({"WEBHOOK_ALLOW_HTTP": "true", "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8, ::1/128"})

    assert settings.webhook_allow_http is True
    assert settings.webhook_allowed_networks == (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEBHOOK_ALLOWED_NETWORKS", "10.0.0.1/8"),
        ("WEBHOOK_ALLOWED_NETWORKS", "intranet"),
        ("WEBHOOK_ALLOW_HTTP", "sometimes"),
        ("HTTP_HEADER_TIMEOUT_SECONDS", "0"),
        ("HTTP_BODY_TIMEOUT_SECONDS", "-1"),
        ("HTTP_MAX_HEADER_BYTES", "16k"),
    ],
)
def test_a_mistyped_setting_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
