"""The declared bodies and answers of the operator endpoints: seller routes (/admin/routes) and
outgoing webhooks (/admin/webhooks). Each `Struct` validates a request (`json_body.decode`),
renders an answer and is its schema in the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from domain.events import EventType
from domain.identifiers import MAX_SHOP_ID
from domain.webhooks import DeliveryStatus

# A provider's name, as routes and paths spell it (checked in `seller_routes.py`, with its own message).
PROVIDER_PATTERN = "^[a-z][a-z0-9_]{0,31}$"
MAX_ACCOUNT = 128
MAX_CREDENTIAL = 500
MAX_URL = 2048
MAX_EVENT_TYPES = 50
EVENT_TYPES = [event_type.value for event_type in EventType]  # the domain's list, never a copy of it

ShopId = Annotated[int, msgspec.Meta(ge=1, le=MAX_SHOP_ID, description="the marketplace's shop id", examples=[121038])]
ProviderName = Annotated[
    str, msgspec.Meta(max_length=32, extra_json_schema={"pattern": PROVIDER_PATTERN}, examples=["kaspi", "stripe"])
]
MerchantAccount = Annotated[
    str,
    msgspec.Meta(
        max_length=MAX_ACCOUNT,
        description="1 to 128 characters: Kaspi BIN, Stripe acct_..., YooKassa shop id, CloudPayments public id",
        examples=["920317450731", "acct_1Nv0FGQ9RKHgCVdK"],
    ),
]
Credentials = dict[
    str,
    Annotated[
        str,
        msgspec.Meta(max_length=MAX_CREDENTIAL, description="1 to 500 printable characters", examples=["test_secret"]),
    ],
]
Timestamp = Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]
EventTypeName = Annotated[str, msgspec.Meta(extra_json_schema={"enum": EVENT_TYPES})]


# --- Seller routes (seller_routes.py) ----------------------------------------------------------


class NewRouteBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    shop_id: ShopId
    provider: ProviderName
    merchant_account: MerchantAccount
    credentials: (
        Annotated[
            Credentials,
            msgspec.Meta(
                description="write-only: Kaspi device_token, YooKassa secret_key, CloudPayments api_secret; "
                "only the provider's own credential names"
            ),
        ]
        | None
    ) = None
    is_active: Annotated[bool, msgspec.Meta(description="absent or null: true")] | None = None
    is_default: (
        Annotated[bool, msgspec.Meta(description="absent or null: false; true unsets the shop's other default")]
        | None
    ) = None


class RouteChangeBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Absent or null fields stay as they are."""

    merchant_account: MerchantAccount | None = None
    credentials: (
        Annotated[Credentials, msgspec.Meta(description="merged into the route's credentials")] | None
    ) = None
    is_active: bool | None = None
    is_default: Annotated[bool, msgspec.Meta(description="true unsets the shop's other default")] | None = None


class RouteResource(msgspec.Struct, frozen=True):
    """A route as operators see it: which credentials are set, never their values."""

    shop_id: ShopId
    provider: Annotated[str, msgspec.Meta(examples=["stripe"])]
    merchant_account: Annotated[str, msgspec.Meta(examples=["acct_1Nv0FGQ9RKHgCVdK"])]
    credential_names: Annotated[
        list[str], msgspec.Meta(description="which credentials are set; their values are never returned")
    ]
    is_active: bool
    is_default: bool
    created_at: Timestamp
    updated_at: Timestamp


class RouteList(msgspec.Struct, frozen=True):
    data: list[RouteResource]


# --- Outgoing webhooks (webhook_routes.py) -----------------------------------------------------


class NewWebhookBody(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    url: Annotated[
        str,
        msgspec.Meta(
            max_length=MAX_URL,
            description="https on a public address (see WEBHOOK_ALLOWED_NETWORKS)",
            extra_json_schema={"format": "uri"},
            examples=["https://crm.example/paygate"],
        ),
    ]
    event_types: (
        Annotated[
            list[EventTypeName],
            msgspec.Meta(min_length=1, max_length=MAX_EVENT_TYPES, description="absent or null: every event type"),
        ]
        | None
    ) = None
    description: Annotated[str, msgspec.Meta(max_length=255, examples=["CRM"])] | None = None


class WebhookResource(msgspec.Struct, frozen=True):
    id: Annotated[str, msgspec.Meta(examples=["wh_01JD8X3V6Q4ZK0M5N2R7T9W1YB"])]
    url: Annotated[str, msgspec.Meta(extra_json_schema={"format": "uri"})]
    event_types: list[EventType]
    description: str
    is_active: bool
    created_at: Timestamp
    updated_at: Timestamp


class WebhookCreated(msgspec.Struct, frozen=True, kw_only=True):
    success: Literal[True] = True
    webhook: WebhookResource
    secret: Annotated[
        str,
        msgspec.Meta(
            description="signs every delivery (`Paygate-Signature`); shown this once, never again",
            examples=["whsec_4f0c1e..."],
        ),
    ]


class WebhookAnswer(msgspec.Struct, frozen=True, kw_only=True):
    success: Literal[True] = True
    webhook: WebhookResource


class WebhookList(msgspec.Struct, frozen=True, kw_only=True):
    success: Literal[True] = True
    webhooks: list[WebhookResource]


class DeliveryAttemptResource(msgspec.Struct, frozen=True):
    attempted_at: Timestamp
    succeeded: bool
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryResource(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    subscription_id: str
    event_id: str
    event_type: EventTypeName
    payment_id: str
    sequence: Annotated[int, msgspec.Meta(description="the event's place among its payment's events")]
    status: DeliveryStatus
    attempts: Annotated[int, msgspec.Meta(description="since it was last queued")]
    next_attempt_at: Timestamp | None
    last_attempt_at: Timestamp | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: Timestamp | None
    created_at: Timestamp
    # Only in listings: every attempt, oldest first.
    attempt_log: (
        Annotated[list[DeliveryAttemptResource], msgspec.Meta(description="every attempt, oldest first")] | None
    ) = None


class DeliveryList(msgspec.Struct, frozen=True, kw_only=True):
    success: Literal[True] = True
    deliveries: list[DeliveryResource]


class DeliveryAnswer(msgspec.Struct, frozen=True, kw_only=True):
    success: Literal[True] = True
    delivery: DeliveryResource
