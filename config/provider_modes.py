"""Which providers this process talks to for real, which to a built-in simulator, which not at all.

Every process says so at start-up (one line per provider, and a warning while a simulator is on),
and `/health` shows the modes. A simulator says "paid" without moving money: it runs only when a
setting asks for it by name (`simulator`, `SANDBOX_PROVIDER=on`).
"""

from __future__ import annotations

import enum
from urllib.parse import urlsplit

import attrs

from config.settings import Settings


class Mode(enum.StrEnum):
    LIVE = "live"
    SIMULATOR = "simulator"
    OFF = "off"


# The setting that turns each provider on: what an operator who forgot it must set.
SETTING = {
    "kaspi": "PRODUCTION_API_URL",
    "stripe": "STRIPE_SECRET_KEY",
    "yookassa": "YOOKASSA_API_URL",
    "cloudpayments": "CLOUDPAYMENTS_API_URL",
    "sandbox": "SANDBOX_PROVIDER",
}


@attrs.frozen
class ProviderMode:
    name: str
    mode: Mode
    host: str | None = None  # for the start-up log only: where a live provider's calls go

    def describe(self) -> str:
        return f"{self.mode} {self.host}" if self.mode is Mode.LIVE else str(self.mode)


def _mode(name: str, enabled: bool, simulated: bool, base_url: str) -> ProviderMode:
    if not enabled:
        return ProviderMode(name, Mode.OFF)
    if simulated:
        return ProviderMode(name, Mode.SIMULATOR)
    parts = urlsplit(base_url)
    # The host and port alone: a path or query could carry a token, a user-info part a password.
    host = parts.hostname or "?"
    return ProviderMode(name, Mode.LIVE, f"{host}:{parts.port}" if parts.port else host)


def provider_modes(settings: Settings) -> list[ProviderMode]:
    return [
        _mode("kaspi", settings.kaspi_enabled, settings.kaspi_simulated, settings.kaspi_base_url),
        _mode("stripe", settings.stripe_enabled, settings.stripe_simulated, settings.stripe_base_url),
        _mode("yookassa", settings.yookassa_enabled, settings.yookassa_simulated, settings.yookassa_base_url),
        _mode(
            "cloudpayments",
            settings.cloudpayments_enabled,
            settings.cloudpayments_simulated,
            settings.cloudpayments_base_url,
        ),
        # The sandbox is a simulator through and through: there is nothing live behind it.
        ProviderMode("sandbox", Mode.SIMULATOR if settings.sandbox_enabled else Mode.OFF),
    ]
