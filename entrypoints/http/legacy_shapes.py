"""The declared bodies and answers of the old service's paths (msgspec `Struct`s): the Kaspi API
(`/payments/kaspi/*`), the Bitrix client's calls (`/api/...`), the operator's configs and audit log
(`/admin/configs`, `/admin/logs`), and the health answer `/api/health` shares with `/health`.

These take what the old service took: unknown fields are ignored (`decode(..., legacy=True)` logs
them), `null` reads as absent, and numbers may come as numeric strings — declared `LegacyInteger` /
`LegacyAmount` and checked against the old grammar by `json_body.legacy_integer` / `legacy_amount`.
What msgspec would refuse in other words than the old parser (a choice, a pattern) is declared as a
plain string here, documented by `extra_json_schema`, and checked by the route with its old refusal.
They answer as it did: the same keys in the same order, `success` first where it was.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from domain.audit import Outcome
from domain.identifiers import MAX_SHOP_ID
from domain.money import MAX_MINOR_UNITS
from domain.payment import PaymentStatus

from entrypoints.http.admin_shapes import PROVIDER_PATTERN, ShopId, Timestamp

from config.provider_modes import Mode

MAX_TENGE = MAX_MINOR_UNITS // 100
MAX_ERROR_MESSAGE = 1000
# Kaspi's statuses as the Bitrix client sees them, and what each would mean for the payment.
KASPI_STATUSES: dict[str, PaymentStatus] = {
    "QrTokenCreated": PaymentStatus.PENDING,
    "RemotePaymentCreated": PaymentStatus.PENDING,
    "Wait": PaymentStatus.PENDING,
    "Processed": PaymentStatus.SUCCEEDED,
    "Error": PaymentStatus.FAILED,
}
_OUTCOME_OF = {
    PaymentStatus.PENDING: Outcome.PENDING,
    PaymentStatus.SUCCEEDED: Outcome.SUCCESS,
    PaymentStatus.FAILED: Outcome.ERROR,
}
# A client log entry's status: the outcome of the client's call, or Kaspi's word for the payment.
LOG_OUTCOMES: dict[str, Outcome] = {
    **{outcome.value: outcome for outcome in Outcome},
    **{status: _OUTCOME_OF[meaning] for status, meaning in KASPI_STATUSES.items()},
}
CLIENT_OPERATIONS = ("create", "create-link", "create_link", "status", "refund", "cancel")
_DIGITS = "^[0-9]{1,19}$"
KASPI_ID_PATTERN = "^[0-9]{1,20}$"  # Kaspi's payment ids, checked by the routes
_BIN = "^[0-9]{12}$"
_PROVIDER_OR_EMPTY = f"^({PROVIDER_PATTERN.strip('^$')})?$"  # empty reads as kaspi


def _documented(**schema: Any) -> msgspec.Meta:
    """What the route checks itself (with the old refusal), said in the document only."""
    return msgspec.Meta(extra_json_schema=schema)


def _tenge(description: str, *alternatives: dict[str, Any], **bounds: int) -> msgspec.Meta:
    """A legacy amount, checked by `legacy_amount` and `Money.from_major`: a number, or its digits."""
    number = {"type": "number", **bounds, "maximum": MAX_TENGE, "multipleOf": 0.01, "examples": [5000]}
    text = {"type": "string", "pattern": "^[0-9]{1,15}(\\.[0-9]{1,2})?$", "examples": ["5000.00"]}
    return msgspec.Meta(description=description, extra_json_schema={"anyOf": [number, text, *alternatives]})


# --- Legacy numbers ----------------------------------------------------------------------------

# Checked by `json_body.legacy_integer` (the old grammar) and `check_shop_id`.
LegacyInteger = Annotated[
    Annotated[int, _documented(minimum=1, maximum=MAX_SHOP_ID, examples=[121038])]
    | Annotated[str, _documented(pattern=_DIGITS, examples=["121038"])],
    msgspec.Meta(description="an integer, or its digits as a string"),
]
# A JSON number arrives as int or Decimal (never float), a string as str: checked by `legacy_amount`.
LegacyAmount = Annotated[Any, _tenge("tenge: a number, or its digits with at most two decimals", exclusiveMinimum=0)]
BinDigits = Annotated[str, msgspec.Meta(max_length=12, examples=["920317450731"]), _documented(pattern=_BIN)]
KaspiPaymentId = Annotated[
    str, msgspec.Meta(max_length=20, description="Kaspi's numeric payment id", examples=["12800627774"]),
    _documented(pattern=KASPI_ID_PATTERN),
]
Message = Annotated[str, msgspec.Meta(max_length=255, examples=["Order 1001"])]
KaspiPhone = Annotated[str, msgspec.Meta(max_length=32, examples=["+7 701 521 15 45"])]
ErrorMessage = Annotated[str, msgspec.Meta(max_length=MAX_ERROR_MESSAGE)]
ProviderName = Annotated[
    str,
    msgspec.Meta(max_length=32, description="absent, null or empty: kaspi"),
    _documented(pattern=_PROVIDER_OR_EMPTY),
]
KaspiStatusName = Annotated[
    str, msgspec.Meta(max_length=64, description="Kaspi's word for the payment"), _documented(enum=list(KASPI_STATUSES))
]
DeviceToken = Annotated[str, msgspec.Meta(max_length=128, description="write-only: never shown again")]


# --- The Kaspi API (/payments/kaspi/*) --------------------------------------------------------


class KaspiCreateBody(msgspec.Struct, frozen=True):
    shop_id: LegacyInteger
    amount: LegacyAmount
    phone: KaspiPhone
    message: Message | None = None


class KaspiCreateLinkBody(msgspec.Struct, frozen=True):
    shop_id: LegacyInteger
    amount: LegacyAmount
    message: Message | None = None


class KaspiRefundBody(msgspec.Struct, frozen=True):
    shop_id: LegacyInteger
    external_id: KaspiPaymentId
    amount: LegacyAmount


class KaspiCreated(msgspec.Struct, frozen=True):
    external_id: Annotated[str | None, msgspec.Meta(examples=["12800627774"])]
    status: Annotated[str | None, msgspec.Meta(description="Kaspi's status", examples=["Wait"])]
    organization_bin: Annotated[str | None, msgspec.Meta(examples=["920317450731"])]
    success: Literal[True] = True


class KaspiLinkCreated(msgspec.Struct, frozen=True):
    payment_id: Annotated[str | None, msgspec.Meta(examples=["12800944903"])]
    payment_link: Annotated[str | None, msgspec.Meta(examples=["https://pay.kaspi.kz/pay/..."])]
    expire_date: Timestamp | None
    organization_bin: str | None
    success: Literal[True] = True


class KaspiStatus(msgspec.Struct, frozen=True):
    external_id: str | None
    status: Annotated[str | None, msgspec.Meta(description="Kaspi's status", examples=["Processed"])]
    success: Literal[True] = True


class KaspiRefunded(msgspec.Struct, frozen=True):
    external_id: str | None
    # An int or a Decimal (`kaspi_routes._tenge_out`), a JSON number either way; typed Any only because
    # msgspec documents a Decimal as a string (it encodes ours as numbers: `responses.JsonResponse`).
    refunded_amount: Annotated[Any, msgspec.Meta(description="tenge", extra_json_schema={"type": "number"})]
    organization_bin: str | None
    success: Literal[True] = True


# --- The Bitrix client's calls (/api/...) -------------------------------------------------------


class PaymentConfig(msgspec.Struct, frozen=True):
    """A shop's Kaspi route as the Bitrix client reads it."""

    shop_id: ShopId
    organization_bin: Annotated[str, msgspec.Meta(examples=["920317450731"]), _documented(pattern=_BIN)]
    device_token: Annotated[
        str | None, msgspec.Meta(description="only for a key with the `routes:secrets` scope; null otherwise")
    ]
    is_active: bool
    provider: Annotated[str, msgspec.Meta(examples=["kaspi"])]


class ClientLogBody(msgspec.Struct, frozen=True):
    """An operation the client performed itself; `status` is its outcome or Kaspi's word for the payment."""

    shop_id: LegacyInteger
    organization_bin: BinDigits
    operation_type: Annotated[str, msgspec.Meta(max_length=64), _documented(enum=list(CLIENT_OPERATIONS))]
    status: Annotated[
        str,
        msgspec.Meta(max_length=64, description="the call's outcome, or Kaspi's word for the payment"),
        _documented(enum=list(LOG_OUTCOMES)),
    ]
    external_id: KaspiPaymentId | None = None
    amount: Annotated[
        Any, _tenge("tenge as Kaspi reported it (`100.00`); stored in tiyn", {"type": "null"}, minimum=0)
    ] = None
    error_message: ErrorMessage | None = None
    provider: ProviderName | None = None


class ClientLog(msgspec.Struct, frozen=True):
    shop_id: int | None
    organization_bin: str | None
    operation_type: str
    external_id: str | None
    amount: Annotated[int | None, msgspec.Meta(description="minor units (tiyn)")]
    status: Outcome
    error_message: str | None
    provider: str | None
    created_at: Timestamp


class ClientLogRecorded(msgspec.Struct, frozen=True, kw_only=True):
    success: Literal[True] = True
    log: ClientLog


class StatusReportBody(msgspec.Struct, frozen=True):
    shop_id: LegacyInteger
    external_id: KaspiPaymentId
    status: KaspiStatusName
    error_message: ErrorMessage | None = None


class StatusReported(msgspec.Struct, frozen=True, kw_only=True):
    success: Literal[True] = True
    shop_id: ShopId
    external_id: str | None
    status: Annotated[str | None, msgspec.Meta(description="Kaspi's status as Paygate now holds it")]


# --- The operator's configs and audit log (/admin/configs, /admin/logs) -------------------------


class Config(msgspec.Struct, frozen=True):
    """A Kaspi route as the old service showed it (never a device token)."""

    shop_id: ShopId
    organization_bin: Annotated[str, _documented(pattern=_BIN)]
    provider: Annotated[str, msgspec.Meta(examples=["kaspi"])]
    is_active: bool
    created_at: Timestamp
    updated_at: Timestamp


class NewConfigBody(msgspec.Struct, frozen=True):
    shop_id: LegacyInteger
    organization_bin: BinDigits
    device_token: DeviceToken | None = None
    is_active: Annotated[bool | None, msgspec.Meta(description="absent or null: true")] = None
    provider: Annotated[str, msgspec.Meta(max_length=32), _documented(enum=["kaspi", ""])] | None = None


class ConfigChangeBody(msgspec.Struct, frozen=True):
    organization_bin: BinDigits | None = None
    device_token: DeviceToken | None = None
    is_active: bool | None = None
    provider: Annotated[str, msgspec.Meta(max_length=32), _documented(enum=["kaspi", ""])] | None = None


class ConfigDeactivated(msgspec.Struct, frozen=True):
    message: Annotated[str, msgspec.Meta(examples=["config of shop 8 deactivated"])]


class AuditLogEntry(msgspec.Struct, frozen=True):
    id: int | None
    shop_id: int | None
    organization_bin: str | None
    operation_type: Annotated[str, msgspec.Meta(examples=["create"])]
    external_id: str | None
    payment_id: str | None
    amount: Annotated[int | None, msgspec.Meta(description="minor units (tiyn)")]
    currency: str | None
    status: Outcome
    error_message: str | None
    provider: str | None
    actor: str | None
    source: Annotated[
        str | None,
        msgspec.Meta(
            description="for a status change: api, poller, webhook:<provider>, operator:<key name>, "
            "operator:cli or client_report"
        ),
    ]
    observed_at: Annotated[
        Timestamp | None,
        msgspec.Meta(description="for a status change: when the provider's state was observed"),
    ]
    refund_id: Annotated[str | None, msgspec.Meta(description="the refund an entry is about")]
    created_at: Timestamp


# --- Health (/health, /ready, and the Bitrix client's /api/health) ------------------------------

ServiceStatus = Literal["up", "down", "degraded", "unknown"]


class ServiceHealth(msgspec.Struct, frozen=True, omit_defaults=True):
    status: ServiceStatus
    reason: str | None = None
    latency_ms: float | None = None
    revisions: list[str] | None = None
    last_outcome: str | None = None
    last_call_at: Timestamp | None = None
    consecutive_failures: int | None = None


class Health(msgspec.Struct, frozen=True):
    status: Annotated[
        Literal["healthy", "degraded", "unhealthy"],
        msgspec.Meta(description="/health: healthy or degraded (always 200); /ready: healthy or unhealthy (503)"),
    ]
    providers: Annotated[
        dict[str, Annotated[str, _documented(enum=[mode.value for mode in Mode])]],
        msgspec.Meta(description="each provider's mode here: `live`, `simulator` or `off` (never a host)"),
    ]
    services: Annotated[
        dict[str, ServiceHealth],
        msgspec.Meta(
            description="`database`, `migrations`, `provider:<name>` (from its last real call) and, on /ready, "
            "`routed_providers` (down while active seller routes use a provider that is off)"
        ),
    ]
    timestamp: Timestamp
