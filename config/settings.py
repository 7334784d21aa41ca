"""Settings: the environment, read once into a typed, frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

SIMULATOR_ACCESS_TOKEN = "sandbox-access-token"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/paygate.db"


class SettingsError(ValueError):
    """The environment is missing or mistypes a setting; the message names it."""


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


def _number(env: Mapping[str, str], name: str, default: float, *, kind: type = float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative")
    return value


@attrs.frozen
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8015
    debug: bool = False
    log_level: str = "INFO"
    cors_origins: tuple[str, ...] = ()
    # Kaspi through the merchant's proxy; no URL means the built-in simulator on our own port.
    kaspi_proxy_url: str | None = None
    kaspi_access_token: str = attrs.field(default=SIMULATOR_ACCESS_TOKEN, repr=False)
    kaspi_timeout_seconds: float = 15.0
    kaspi_simulator_latency_ms: int = 0

    @property
    def kaspi_simulated(self) -> bool:
        return self.kaspi_proxy_url is None

    @property
    def kaspi_base_url(self) -> str:
        if self.kaspi_proxy_url is not None:
            return self.kaspi_proxy_url.rstrip("/")
        return f"http://127.0.0.1:{self.port}/sandbox/kaspi/api/v2/paymentkaspi"

    def secrets(self) -> list[str]:
        """Values that must never appear in a log line or a response."""
        return [self.kaspi_access_token] if self.kaspi_access_token else []

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        proxy_url = env.get("PRODUCTION_API_URL") or None
        token = env.get("KASPI_ACCESS_TOKEN") or ""
        if proxy_url is not None and not token:
            raise SettingsError("KASPI_ACCESS_TOKEN is required when PRODUCTION_API_URL is set")
        origins = tuple(o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip())
        return cls(
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            host=env.get("HOST") or "127.0.0.1",
            port=int(_number(env, "PORT", 8015, kind=int)),
            debug=_flag(env, "DEBUG", False),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            cors_origins=origins,
            kaspi_proxy_url=proxy_url,
            kaspi_access_token=token or SIMULATOR_ACCESS_TOKEN,
            kaspi_timeout_seconds=_number(env, "KASPI_TIMEOUT_SECONDS", 15.0),
            kaspi_simulator_latency_ms=int(_number(env, "KASPI_SIMULATOR_LATENCY_MS", 0, kind=int)),
        )
