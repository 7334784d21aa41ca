"""The gateway's tables as SQLAlchemy Core `Table`s: the one schema every repository maps to."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)

# Explicit constraint names, so that the hand-written migrations can name what they create and drop.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every dialect.

    SQLite has no time zones: it keeps the wall-clock digits and drops the offset, so values are
    converted to UTC before they are written and marked UTC when read. Naive datetimes are refused:
    their meaning depends on the machine that wrote them.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"refusing to store a naive datetime: {value!r}")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _timestamps() -> tuple[Column[datetime], Column[datetime]]:
    return (
        Column("created_at", UtcDateTime(), nullable=False),
        Column("updated_at", UtcDateTime(), nullable=False),
    )


seller_routes = Table(
    "seller_routes",
    metadata,
    Column("shop_id", BigInteger, primary_key=True, autoincrement=False),
    Column("provider", String(32), primary_key=True),
    Column("merchant_account", String(128), nullable=False),
    Column("credentials", Text, nullable=False),
    Column("is_active", Boolean, nullable=False),
    *_timestamps(),
    Column("is_default", Boolean, nullable=False, server_default=false()),
)

# Provider webhook events already handled: providers redeliver, and a duplicate must change nothing.
provider_events = Table(
    "provider_events",
    metadata,
    Column("provider", String(32), primary_key=True),
    Column("event_id", String(255), primary_key=True),
    Column("received_at", UtcDateTime(), nullable=False),
)

payments = Table(
    "payments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("shop_id", BigInteger, nullable=False),
    Column("provider", String(32), nullable=False),
    Column("method", String(16), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("refunded_minor", BigInteger, nullable=False),
    Column("refund_reserved_minor", BigInteger, nullable=False),
    Column("merchant_account", String(128), nullable=False),
    Column("description", Text, nullable=False),
    Column("status", String(32), nullable=False),
    Column("provider_status", String(255)),
    Column("external_id", String(255)),
    Column("phone", String(32)),
    Column("payment_link", Text),
    Column("expires_at", UtcDateTime()),
    Column("idempotency_key", String(300)),
    Column("error_code", String(100)),
    Column("error_message", Text),
    Column("version", Integer, nullable=False),
    *_timestamps(),
    Column("order_id", String(128)),
    Column("customer_id", String(128)),
    Column("metadata", Text),
    Column("return_url", Text),
    Column("manual_capture", Boolean, nullable=False, server_default=false()),
    Column("checkout_url", Text),
    Column("client_secret", Text),
    # Status provenance (migration 0005): who reported the status, and when the provider was seen.
    Column("status_source", String(300)),
    Column("status_observed_at", UtcDateTime()),
    Column("succeeded_at", UtcDateTime()),  # migration 0006: the day a settlement report counts it on
    Column("wallet", String(64)),  # migration 0008: the card wallet that paid (apple_pay, google_pay)
    UniqueConstraint("idempotency_key"),
    UniqueConstraint("provider", "external_id"),
    # The last line of defence for the refund invariant: never more back than was paid.
    CheckConstraint(
        "amount_minor >= 0 AND refunded_minor >= 0 AND refund_reserved_minor >= 0"
        " AND refunded_minor + refund_reserved_minor <= amount_minor",
        name="refunds_within_amount",
    ),
    Index("ix_payments_shop_id_created_at", "shop_id", "created_at"),
    Index("ix_payments_status", "status"),
    Index("ix_payments_order_id", "order_id"),
    Index("ix_payments_customer_id_id", "customer_id", "id"),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("payment_id", String(64), ForeignKey("payments.id"), nullable=False),
    Column("shop_id", BigInteger, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(32), nullable=False),
    Column("external_id", String(255)),
    Column("idempotency_key", String(300)),
    Column("error_code", String(100)),
    Column("error_message", Text),
    *_timestamps(),
    Column("status_source", String(300)),
    Column("status_observed_at", UtcDateTime()),
    Column("reason", Text),  # migration 0006
    UniqueConstraint("idempotency_key"),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    Index("ix_refunds_payment_id", "payment_id"),
)

payment_log = Table(
    "payment_log",
    metadata,
    # SQLite only autoincrements a column declared exactly INTEGER PRIMARY KEY.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("shop_id", BigInteger),
    Column("organization_bin", String(128)),
    Column("operation_type", String(64), nullable=False),
    Column("external_id", String(255)),
    Column("amount", BigInteger),
    Column("currency", String(3)),
    Column("status", String(16), nullable=False),
    Column("error_message", Text),
    Column("provider", String(32)),
    Column("payment_id", String(64)),
    Column("actor", String(255)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("source", String(300)),
    Column("observed_at", UtcDateTime()),
    Column("refund_id", String(64)),
    Column("reason", Text),  # migration 0006
    Index("ix_payment_log_shop_id_id", "shop_id", "id"),
    Index("ix_payment_log_payment_id", "payment_id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("fingerprint", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("response_status", Integer),
    Column("response_body", LargeBinary),
    *_timestamps(),
    CheckConstraint("state IN ('started', 'done')", name="known_state"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("key_hash", String(128), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime()),
    # A JSON list of shop ids the key is restricted to; NULL reaches every shop.
    Column("shops", Text),
    Column("prefix", String(16)),
    UniqueConstraint("key_hash"),
)

# --- Polling, the outbox and outgoing webhooks (migration 0002) -----------------------------------

# The poller's schedule of open payments, kept out of `payments`: checks come and go, a payment stays.
payment_checks = Table(
    "payment_checks",
    metadata,
    Column("payment_id", String(64), ForeignKey("payments.id"), primary_key=True),
    Column("next_check_at", UtcDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False),
    # Set while a poller holds the check; a crashed poller's lease simply runs out.
    Column("leased_until", UtcDateTime()),
    Index("ix_payment_checks_next_check_at", "next_check_at"),
)

# The poller's schedule of open refunds (migration 0005): pending at the provider, or their answer lost.
refund_checks = Table(
    "refund_checks",
    metadata,
    Column("refund_id", String(64), ForeignKey("refunds.id"), primary_key=True),
    Column("next_check_at", UtcDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("leased_until", UtcDateTime()),
    Index("ix_refund_checks_next_check_at", "next_check_at"),
)

# Events written in the transaction of the change they tell; `sequence` orders a payment's events.
outbox_events = Table(
    "outbox_events",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("payment_id", String(64), ForeignKey("payments.id"), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("type", String(64), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("payload", Text, nullable=False),
    # When the event was handed to the webhook subscriptions, and confirmed by the broker.
    Column("fanned_out_at", UtcDateTime()),
    Column("published_at", UtcDateTime()),
    Column("publish_leased_until", UtcDateTime()),
    UniqueConstraint("payment_id", "sequence"),
    Index("ix_outbox_events_fanned_out_at", "fanned_out_at"),
    Index("ix_outbox_events_published_at", "published_at"),
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("event_types", Text, nullable=False),
    # Needed in clear to sign deliveries, so stored through the same cipher as route credentials.
    Column("secret", Text, nullable=False),
    Column("description", String(255), nullable=False),
    Column("is_active", Boolean, nullable=False),
    *_timestamps(),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("subscription_id", String(64), ForeignKey("webhook_subscriptions.id"), nullable=False),
    Column("event_id", String(64), ForeignKey("outbox_events.id"), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("payment_id", String(64), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("last_attempt_at", UtcDateTime()),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("delivered_at", UtcDateTime()),
    *_timestamps(),
    UniqueConstraint("subscription_id", "event_id"),
    CheckConstraint("status IN ('pending', 'delivered', 'dead', 'cancelled', 'blocked')", name="known_status"),
    Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_subscription_id_payment_id_sequence", "subscription_id", "payment_id", "sequence"),
    Index("ix_webhook_deliveries_event_id", "event_id"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("delivery_id", String(64), ForeignKey("webhook_deliveries.id"), nullable=False),
    Column("attempted_at", UtcDateTime(), nullable=False),
    Column("succeeded", Boolean, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Index("ix_webhook_attempts_delivery_id_id", "delivery_id", "id"),
)


def column_names(table: Table, *, without: tuple[str, ...] = ()) -> list[str]:
    """`table`'s columns in order, for statements written out as SQL (psycopg's hot path)."""
    return [column.name for column in table.columns if column.name not in without]
