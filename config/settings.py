"""Settings: the environment, read once into a typed, frozen object."""

from __future__ import annotations

import ipaddress
import os
import zoneinfo
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import attrs

SIMULATOR_ACCESS_TOKEN = "sandbox-access-token"
LOG_FORMATS = ("console", "json")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/paygate.db"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# <PROVIDER>_API_URL=simulator: that provider's built-in simulator on the gateway's own port.
SIMULATOR = "simulator"
STRIPE_API_URL = "https://api.stripe.com"
# What STRIPE_API_URL=simulator uses unless told otherwise: the simulator checks these, nothing real.
STRIPE_SIMULATOR_SECRET_KEY = "sk_test_paygate_simulator"
STRIPE_SIMULATOR_WEBHOOK_SECRET = "whsec_paygate_simulator"
STRIPE_SIMULATOR_PUBLISHABLE_KEY = "pk_test_paygate_simulator"
# Where YooKassa sends notifications from (its published list); they are unsigned, so the source
# network is all that tells a notification from anyone else's POST.
YOOKASSA_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "77.75.153.0/25", "77.75.156.11/32", "77.75.156.35/32", "77.75.154.128/25",
        "185.71.76.0/27", "185.71.77.0/27", "2a02:5180::/32",
    )
)


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


def _number(env: Mapping[str, str], name: str, default: float, *, kind: Callable[[str], float] = float) -> float:
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


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name, default)
    if value > 1:
        raise SettingsError(f"{name} must be between 0 and 1")
    return value


def _timezone(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name) or default
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{name} must be an IANA time zone such as Asia/Almaty, not {value!r}") from None
    return value


def _positive(env: Mapping[str, str], name: str, default: float, *, kind: type = float) -> float:
    value = _number(env, name, default, kind=kind)
    if value == 0:
        raise SettingsError(f"{name} must be positive")
    return value


def _networks(env: Mapping[str, str], name: str, default: tuple[IPNetwork, ...]) -> tuple[IPNetwork, ...]:
    """Comma-separated addresses or CIDR networks (IPv4 or IPv6); unset keeps `default`."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError:
            raise SettingsError(f"{name}: {item!r} is not an IP address or network (host bits set?)") from None
    return tuple(networks)


# The broadest network LEGACY_TRUSTED_NETWORKS may list: anything wider is a catch-all, not a
# list of the old service's callers.
_LEGACY_MIN_PREFIX = {4: 8, 6: 32}


def check_legacy_networks(legacy: tuple[IPNetwork, ...], proxies: tuple[IPNetwork, ...]) -> None:
    """Keyless legacy callers are trusted by address alone: refuse a catch-all, and any overlap with
    a trusted proxy (whose own X-Forwarded-For is believed, so it could claim a legacy address)."""
    for network in legacy:
        if network.prefixlen < _LEGACY_MIN_PREFIX[network.version]:
            raise SettingsError(
                f"LEGACY_TRUSTED_NETWORKS: {network} is a catch-all; list the old service's callers "
                f"(at most /{_LEGACY_MIN_PREFIX[network.version]} wide)"
            )
        for proxy in proxies:
            if network.version == proxy.version and network.overlaps(proxy):
                raise SettingsError(f"LEGACY_TRUSTED_NETWORKS: {network} overlaps TRUSTED_PROXIES ({proxy})")


def _api_url(env: Mapping[str, str], name: str) -> str | None:
    """A provider's API URL, `simulator` for its built-in simulator, or None when unset."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if raw != SIMULATOR and urlsplit(raw).scheme not in {"http", "https"}:
        raise SettingsError(f"{name} must be an http(s) URL or {SIMULATOR!r}")
    return raw


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    raw = (env.get(name) or "").strip().lower()
    if raw and raw not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return raw or None


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


@attrs.frozen
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL connections per process, all kept open: a connection opened and closed per request
    # costs more than the request. A request holds one only for a statement or a short transaction.
    # The write pool (autocommit) serves the hot path's single statements: a create's writes,
    # payment reads, `Idempotency-Key` claims; the other pool every transaction.
    database_pool_size: int = 10
    database_write_pool_size: int = 10
    database_pool_timeout_seconds: float = 5.0
    host: str = "127.0.0.1"
    port: int = 8015
    log_level: str = "INFO"
    # `json` (one object per line, for machines) or `console` (for a person at a terminal);
    # None: console when stderr is a terminal, JSON otherwise.
    log_format: str | None = None
    cors_origins: tuple[str, ...] = ()
    # Kaspi through the merchant's proxy (PRODUCTION_API_URL); `simulator` is the built-in one on
    # our own port, and no URL means Kaspi is off: a forgotten setting must never bill a simulator.
    kaspi_proxy_url: str | None = None
    kaspi_access_token: str = attrs.field(default=SIMULATOR_ACCESS_TOKEN, repr=False)
    kaspi_timeout_seconds: float = 15.0
    kaspi_simulator_latency_ms: int = 0
    # Fernet keys for secrets at rest: the first encrypts, all decrypt. Empty: a development key
    # file (created on first use) stands in, so `make run` needs no configuration.
    secrets_keys: tuple[str, ...] = attrs.field(default=(), repr=False)
    secrets_key_file: str = "./var/secrets.key"
    # Per API key: a sustained rate and a burst; 0 turns rate limiting off. Shared across replicas
    # through Redis when REDIS_URL is set, per process otherwise.
    rate_limit_per_second: float = 5000.0
    rate_limit_burst: int = 10000
    redis_url: str | None = attrs.field(default=None, repr=False)
    # How long a route or API key is served from memory; changes invalidate at once (PostgreSQL).
    cache_ttl_seconds: float = 5.0
    # The poller (`paygate poll`): a sweep every interval, checks leased in batches for a while.
    poll_interval_seconds: float = 5.0
    poll_batch_size: int = 100
    poll_concurrency: int = 20
    poll_lease_seconds: float = 300.0
    # Status calls to Kaspi per second, per poller process (Kaspi rejects tight polling).
    kaspi_rate_limit_per_second: float = 20.0
    # The dispatcher (inside `paygate poll`, or `paygate dispatch`): webhooks and the broker.
    dispatch_interval_seconds: float = 2.0
    webhook_timeout_seconds: float = 10.0
    webhook_concurrency: int = 10
    # Webhook targets: https to public addresses only, unless these allow http or some networks
    # (a receiver on the private network, the demo's on loopback). Checked at every delivery.
    webhook_allow_http: bool = False
    webhook_allowed_networks: tuple[IPNetwork, ...] = ()
    # Slow or oversized requests are cut off (uvicorn's httptools protocol, `entrypoints/http/slow_clients.py`).
    http_header_timeout_seconds: float = 10.0
    http_body_timeout_seconds: float = 10.0
    http_max_header_bytes: int = 16 * 1024
    # RabbitMQ (amqp://user:pass@host/vhost); unset: events are not published to a broker.
    broker_url: str | None = attrs.field(default=None, repr=False)
    broker_exchange: str = "paygate.events"
    # The sandbox provider (a simulated gateway inside the process, for demos). Never let it near
    # real sellers: it says "paid" without moving money. Off unless asked for (SANDBOX_PROVIDER=on).
    sandbox_enabled: bool = False
    sandbox_success_rate: float = 1.0
    sandbox_latency_ms: int = 0
    sandbox_seed: int | None = None
    sandbox_failure_reasons: tuple[str, ...] = ()  # empty: every reason the sandbox knows
    sandbox_timeout_seconds: float = 5.0
    # YooKassa: on when YOOKASSA_API_URL is set (`simulator`: the built-in one at /sandbox/yookassa).
    # Credentials are per route: the route's merchant account is the shop id, its secret_key the key.
    yookassa_api_url: str | None = None
    yookassa_timeout_seconds: float = 15.0
    yookassa_webhook_networks: tuple[IPNetwork, ...] = YOOKASSA_NETWORKS
    # Reverse proxies in front of Paygate whose X-Forwarded-For is believed; empty: the connecting
    # address is the client (a forwarded-for header is then ignored, whoever sends it).
    trusted_proxies: tuple[IPNetwork, ...] = ()
    # The old service's keyless callers (Bitrix, the marketplace backend) during a cut-over: a
    # request without Authorization from here is the `legacy-network` caller on the legacy paths.
    legacy_trusted_networks: tuple[IPNetwork, ...] = ()
    # How long an identical keyless legacy create is answered with the first one (its retries).
    legacy_implicit_idempotency_seconds: float = 600.0
    # CloudPayments: on when CLOUDPAYMENTS_API_URL is set (`simulator`: the built-in one at
    # /sandbox/cloudpayments). Credentials are per route: the public id and its api_secret.
    cloudpayments_api_url: str | None = None
    cloudpayments_timeout_seconds: float = 15.0
    # Stripe: on when STRIPE_SECRET_KEY is set (the platform's key; each route names the seller's
    # connected account), or with STRIPE_API_URL=simulator (the built-in one at /sandbox/stripe).
    # Several webhook signing secrets: a rotation in progress, or the platform and Connect endpoints.
    stripe_secret_key: str | None = attrs.field(default=None, repr=False)
    stripe_api_url: str | None = None
    stripe_webhook_secrets: tuple[str, ...] = attrs.field(default=(), repr=False)
    stripe_timeout_seconds: float = 30.0
    # The platform's publishable key (pk_...): Stripe.js on the customer's page needs it, with the
    # payment's client secret and connected account. Not a secret; shown on every Stripe payment.
    stripe_publishable_key: str | None = None
    # The operator console (/console/): how long a sign-in lasts, and whether its cookie is `Secure`
    # (off only for the demo, served as plain http on 127.0.0.1). Settlement days are dates here.
    console_session_hours: float = 12.0
    console_secure_cookie: bool = True
    report_timezone: str = "Asia/Almaty"

    def __attrs_post_init__(self) -> None:
        check_legacy_networks(self.legacy_trusted_networks, self.trusted_proxies)

    @property
    def kaspi_enabled(self) -> bool:
        return self.kaspi_proxy_url is not None

    @property
    def kaspi_simulated(self) -> bool:
        return self.kaspi_proxy_url == SIMULATOR

    @property
    def kaspi_base_url(self) -> str:
        if self.kaspi_proxy_url is None or self.kaspi_simulated:
            return f"http://127.0.0.1:{self.port}/sandbox/kaspi/api/v2/paymentkaspi"
        return self.kaspi_proxy_url.rstrip("/")

    @property
    def yookassa_enabled(self) -> bool:
        return self.yookassa_api_url is not None

    @property
    def yookassa_simulated(self) -> bool:
        return self.yookassa_api_url == SIMULATOR

    @property
    def yookassa_base_url(self) -> str:
        if self.yookassa_api_url is None or self.yookassa_simulated:
            return f"http://127.0.0.1:{self.port}/sandbox/yookassa/v3"
        return self.yookassa_api_url.rstrip("/")

    @property
    def stripe_enabled(self) -> bool:
        return self.stripe_secret_key is not None

    @property
    def stripe_simulated(self) -> bool:
        return self.stripe_api_url == SIMULATOR

    @property
    def stripe_base_url(self) -> str:
        if self.stripe_simulated:
            return f"http://127.0.0.1:{self.port}/sandbox/stripe"
        return (self.stripe_api_url or STRIPE_API_URL).rstrip("/")

    @property
    def stripe_simulator_webhook_url(self) -> str:
        """Where the built-in simulator delivers its events: this gateway's own endpoint."""
        return f"http://127.0.0.1:{self.port}/webhooks/stripe"

    @property
    def cloudpayments_enabled(self) -> bool:
        return self.cloudpayments_api_url is not None

    @property
    def cloudpayments_simulated(self) -> bool:
        return self.cloudpayments_api_url == SIMULATOR

    @property
    def cloudpayments_base_url(self) -> str:
        if self.cloudpayments_api_url is None or self.cloudpayments_simulated:
            return f"http://127.0.0.1:{self.port}/sandbox/cloudpayments"
        return self.cloudpayments_api_url.rstrip("/")

    def secrets(self) -> list[str]:
        """Values that must never appear in a log line or a response."""
        broker_password = urlsplit(self.broker_url).password if self.broker_url else None
        return (
            ([self.kaspi_access_token] if self.kaspi_access_token else [])
            + list(self.secrets_keys)
            + ([broker_password] if broker_password else [])
            + ([self.stripe_secret_key] if self.stripe_secret_key else [])
            + list(self.stripe_webhook_secrets)
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        proxy_url = _api_url(env, "PRODUCTION_API_URL")
        token = env.get("KASPI_ACCESS_TOKEN") or ""
        if proxy_url not in (None, SIMULATOR) and not token:
            raise SettingsError("KASPI_ACCESS_TOKEN is required when PRODUCTION_API_URL is set")
        origins = tuple(o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip())
        stripe_api_url = _api_url(env, "STRIPE_API_URL")
        stripe_key = (env.get("STRIPE_SECRET_KEY") or "").strip() or None
        stripe_webhook_secrets = _list(env, "STRIPE_WEBHOOK_SECRETS")
        stripe_publishable_key = (env.get("STRIPE_PUBLISHABLE_KEY") or "").strip() or None
        if stripe_api_url == SIMULATOR:
            stripe_key = stripe_key or STRIPE_SIMULATOR_SECRET_KEY
            stripe_webhook_secrets = stripe_webhook_secrets or (STRIPE_SIMULATOR_WEBHOOK_SECRET,)
            stripe_publishable_key = stripe_publishable_key or STRIPE_SIMULATOR_PUBLISHABLE_KEY
        elif stripe_api_url is not None and stripe_key is None:
            raise SettingsError("STRIPE_SECRET_KEY is required when STRIPE_API_URL is set")
        if _number(env, "RATE_LIMIT_PER_SECOND", 5000.0) > 0 and _number(env, "RATE_LIMIT_BURST", 10000, kind=int) < 1:
            raise SettingsError("RATE_LIMIT_BURST must be at least 1 while RATE_LIMIT_PER_SECOND is set")
        return cls(
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            database_pool_size=int(_positive(env, "DATABASE_POOL_SIZE", 10, kind=int)),
            database_write_pool_size=int(_positive(env, "DATABASE_WRITE_POOL_SIZE", 10, kind=int)),
            database_pool_timeout_seconds=_positive(env, "DATABASE_POOL_TIMEOUT_SECONDS", 5.0),
            host=env.get("HOST") or "127.0.0.1",
            port=int(_number(env, "PORT", 8015, kind=int)),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
            log_format=_choice(env, "LOG_FORMAT", LOG_FORMATS),
            cors_origins=origins,
            kaspi_proxy_url=proxy_url,
            kaspi_access_token=token or SIMULATOR_ACCESS_TOKEN,
            kaspi_timeout_seconds=_number(env, "KASPI_TIMEOUT_SECONDS", 15.0),
            kaspi_simulator_latency_ms=int(_number(env, "KASPI_SIMULATOR_LATENCY_MS", 0, kind=int)),
            secrets_keys=tuple(k.strip() for k in env.get("SECRETS_KEY", "").split(",") if k.strip()),
            secrets_key_file=env.get("SECRETS_KEY_FILE") or "./var/secrets.key",
            rate_limit_per_second=_number(env, "RATE_LIMIT_PER_SECOND", 5000.0),
            rate_limit_burst=int(_number(env, "RATE_LIMIT_BURST", 10000, kind=int)),
            redis_url=env.get("REDIS_URL") or None,
            cache_ttl_seconds=_number(env, "CACHE_TTL_SECONDS", 5.0),
            poll_interval_seconds=_positive(env, "POLL_INTERVAL_SECONDS", 5.0),
            poll_batch_size=int(_positive(env, "POLL_BATCH_SIZE", 100, kind=int)),
            poll_concurrency=int(_positive(env, "POLL_CONCURRENCY", 20, kind=int)),
            poll_lease_seconds=_positive(env, "POLL_LEASE_SECONDS", 300.0),
            kaspi_rate_limit_per_second=_positive(env, "KASPI_RATE_LIMIT_PER_SECOND", 20.0),
            dispatch_interval_seconds=_positive(env, "DISPATCH_INTERVAL_SECONDS", 2.0),
            webhook_timeout_seconds=_positive(env, "WEBHOOK_TIMEOUT_SECONDS", 10.0),
            webhook_concurrency=int(_positive(env, "WEBHOOK_CONCURRENCY", 10, kind=int)),
            webhook_allow_http=_flag(env, "WEBHOOK_ALLOW_HTTP", False),
            webhook_allowed_networks=_networks(env, "WEBHOOK_ALLOWED_NETWORKS", ()),
            http_header_timeout_seconds=_positive(env, "HTTP_HEADER_TIMEOUT_SECONDS", 10.0),
            http_body_timeout_seconds=_positive(env, "HTTP_BODY_TIMEOUT_SECONDS", 10.0),
            http_max_header_bytes=int(_positive(env, "HTTP_MAX_HEADER_BYTES", 16 * 1024, kind=int)),
            broker_url=env.get("BROKER_URL") or None,
            broker_exchange=env.get("BROKER_EXCHANGE") or "paygate.events",
            sandbox_enabled=_flag(env, "SANDBOX_PROVIDER", False),
            sandbox_success_rate=_fraction(env, "SANDBOX_SUCCESS_RATE", 1.0),
            sandbox_latency_ms=int(_number(env, "SANDBOX_LATENCY_MS", 0, kind=int)),
            sandbox_seed=int(_number(env, "SANDBOX_SEED", 0, kind=int)) if env.get("SANDBOX_SEED") else None,
            sandbox_failure_reasons=tuple(
                r.strip() for r in env.get("SANDBOX_FAILURE_REASONS", "").split(",") if r.strip()
            ),
            sandbox_timeout_seconds=_positive(env, "SANDBOX_TIMEOUT_SECONDS", 5.0),
            yookassa_api_url=_api_url(env, "YOOKASSA_API_URL"),
            yookassa_timeout_seconds=_positive(env, "YOOKASSA_TIMEOUT_SECONDS", 15.0),
            yookassa_webhook_networks=_networks(env, "YOOKASSA_WEBHOOK_NETWORKS", YOOKASSA_NETWORKS),
            trusted_proxies=_networks(env, "TRUSTED_PROXIES", ()),
            legacy_trusted_networks=_networks(env, "LEGACY_TRUSTED_NETWORKS", ()),
            legacy_implicit_idempotency_seconds=_positive(env, "LEGACY_IMPLICIT_IDEMPOTENCY_SECONDS", 600.0),
            cloudpayments_api_url=_api_url(env, "CLOUDPAYMENTS_API_URL"),
            cloudpayments_timeout_seconds=_positive(env, "CLOUDPAYMENTS_TIMEOUT_SECONDS", 15.0),
            stripe_secret_key=stripe_key,
            stripe_api_url=stripe_api_url,
            stripe_webhook_secrets=stripe_webhook_secrets,
            stripe_timeout_seconds=_positive(env, "STRIPE_TIMEOUT_SECONDS", 30.0),
            stripe_publishable_key=stripe_publishable_key,
            console_session_hours=_positive(env, "CONSOLE_SESSION_HOURS", 12.0),
            console_secure_cookie=_flag(env, "CONSOLE_SECURE_COOKIE", True),
            report_timezone=_timezone(env, "REPORT_TIMEZONE", "Asia/Almaty"),
        )
