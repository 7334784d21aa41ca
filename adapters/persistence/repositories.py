"""The storage ports on SQLAlchemy Core, with the row <-> entity mapping written out by hand."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Insert, Row, Select, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.audit import AuditEntry, Outcome
from domain.money import Money
from domain.payment import Payment, PaymentMethod, PaymentStatus
from domain.refund import Refund, RefundStatus
from domain.seller_route import Credentials, SellerRoute

from application.errors import DuplicateIdempotencyKey, ProviderOutcomeUnknown, RouteAlreadyExists, SecretUnreadable
from application.ports import PaymentSearch, SecretCipher

from adapters.persistence.invalidation import announce, route_topic
from adapters.persistence.tables import payment_log, payments, provider_events, refunds, seller_routes

# --- Mapping -------------------------------------------------------------------------------------

# JSON columns: compact UTF-8, keys sorted (as `json.dumps(sort_keys=True)` sorted them, so equal
# content is equal text). Rows written before msgspec (`", "` separators, `\u` escapes) read the same.
_JSON_COLUMN = msgspec.json.Encoder(order="sorted")


def _json_text(value: Any) -> str:
    return _JSON_COLUMN.encode(value).decode()


def payment_row(payment: Payment) -> dict[str, Any]:
    assert payment.refunded is not None and payment.refund_reserved is not None
    return {
        "id": payment.id,
        "shop_id": payment.shop_id,
        "provider": payment.provider,
        "method": payment.method.value,
        "amount_minor": payment.amount.minor,
        "currency": payment.amount.currency,
        "refunded_minor": payment.refunded.minor,
        "refund_reserved_minor": payment.refund_reserved.minor,
        "merchant_account": payment.merchant_account,
        "description": payment.description,
        "status": payment.status.value,
        "provider_status": payment.provider_status,
        "external_id": payment.external_id,
        "phone": payment.phone,
        "payment_link": payment.payment_link,
        "expires_at": payment.expires_at,
        "idempotency_key": payment.idempotency_key,
        "error_code": payment.error_code,
        "error_message": payment.error_message,
        "version": payment.version,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
        "order_id": payment.order_id,
        "customer_id": payment.customer_id,
        "metadata": _json_text(dict(payment.metadata)) if payment.metadata else None,
        "return_url": payment.return_url,
        "manual_capture": payment.manual_capture,
        "checkout_url": payment.checkout_url,
        "client_secret": payment.client_secret,
        "status_source": payment.status_source,
        "status_observed_at": payment.status_observed_at,
        "succeeded_at": payment.succeeded_at,
        "wallet": payment.wallet,
    }


def payment_from_row(row: Row[Any]) -> Payment:
    return Payment(
        id=row.id,
        shop_id=row.shop_id,
        provider=row.provider,
        method=PaymentMethod(row.method),
        amount=Money(row.amount_minor, row.currency),
        refunded=Money(row.refunded_minor, row.currency),
        refund_reserved=Money(row.refund_reserved_minor, row.currency),
        merchant_account=row.merchant_account,
        description=row.description,
        status=PaymentStatus(row.status),
        provider_status=row.provider_status,
        external_id=row.external_id,
        phone=row.phone,
        payment_link=row.payment_link,
        expires_at=row.expires_at,
        idempotency_key=row.idempotency_key,
        error_code=row.error_code,
        error_message=row.error_message,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        order_id=row.order_id,
        customer_id=row.customer_id,
        metadata=msgspec.json.decode(row.metadata) if row.metadata else {},
        return_url=row.return_url,
        manual_capture=row.manual_capture,
        checkout_url=row.checkout_url,
        client_secret=row.client_secret,
        status_source=row.status_source,
        status_observed_at=row.status_observed_at,
        succeeded_at=row.succeeded_at,
        wallet=row.wallet,
    )


def _refund_row(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "payment_id": refund.payment_id,
        "shop_id": refund.shop_id,
        "amount_minor": refund.amount.minor,
        "currency": refund.amount.currency,
        "status": refund.status.value,
        "external_id": refund.external_id,
        "idempotency_key": refund.idempotency_key,
        "error_code": refund.error_code,
        "error_message": refund.error_message,
        "created_at": refund.created_at,
        "updated_at": refund.updated_at,
        "status_source": refund.status_source,
        "status_observed_at": refund.status_observed_at,
        "reason": refund.reason,
    }


def _refund_from_row(row: Row[Any]) -> Refund:
    return Refund(
        id=row.id,
        payment_id=row.payment_id,
        shop_id=row.shop_id,
        amount=Money(row.amount_minor, row.currency),
        status=RefundStatus(row.status),
        external_id=row.external_id,
        idempotency_key=row.idempotency_key,
        error_code=row.error_code,
        error_message=row.error_message,
        created_at=row.created_at,
        updated_at=row.updated_at,
        status_source=row.status_source,
        status_observed_at=row.status_observed_at,
        reason=row.reason,
    )


def credentials_to_text(credentials: Credentials, cipher: SecretCipher | None) -> str:
    """The one place credentials are serialised for storage: JSON, encrypted with `cipher`.

    `cipher` None stores plain JSON: only for tests of other concerns; the container always passes one.
    """
    text = _json_text(dict(credentials.values))
    return text if cipher is None else cipher.encrypt(text)


def credentials_from_text(text: str, cipher: SecretCipher | None) -> Credentials:
    """The inverse of `credentials_to_text`; rows stored before encryption (plain JSON) still read."""
    if text.startswith("{"):
        return Credentials(msgspec.json.decode(text))
    if cipher is None:
        raise SecretUnreadable("route credentials")
    try:
        return Credentials(msgspec.json.decode(cipher.decrypt(text)))
    except SecretUnreadable:
        raise SecretUnreadable("route credentials") from None


def _route_row(route: SellerRoute, cipher: SecretCipher | None) -> dict[str, Any]:
    return {
        "shop_id": route.shop_id,
        "provider": route.provider,
        "merchant_account": route.merchant_account,
        "credentials": credentials_to_text(route.credentials, cipher),
        "is_active": route.is_active,
        "is_default": route.is_default,
        "created_at": route.created_at,
        "updated_at": route.updated_at,
    }


def _route_from_row(row: Row[Any], cipher: SecretCipher | None) -> SellerRoute:
    return SellerRoute(
        shop_id=row.shop_id,
        provider=row.provider,
        merchant_account=row.merchant_account,
        credentials=credentials_from_text(row.credentials, cipher),
        is_active=row.is_active,
        is_default=row.is_default,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def audit_row(entry: AuditEntry) -> dict[str, Any]:
    # `id` is left out: the database numbers entries, and that number is the log's order.
    return {
        "shop_id": entry.shop_id,
        "organization_bin": entry.organization_bin,
        "operation_type": entry.operation_type,
        "external_id": entry.external_id,
        "amount": entry.amount_minor,
        "currency": entry.currency,
        "status": entry.status.value,
        "error_message": entry.error_message,
        "provider": entry.provider,
        "payment_id": entry.payment_id,
        "actor": entry.actor,
        "created_at": entry.created_at,
        "source": entry.source,
        "observed_at": entry.observed_at,
        "refund_id": entry.refund_id,
        "reason": entry.reason,
    }


def _audit_from_row(row: Row[Any]) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        shop_id=row.shop_id,
        organization_bin=row.organization_bin,
        operation_type=row.operation_type,
        external_id=row.external_id,
        amount_minor=row.amount,
        currency=row.currency,
        status=Outcome(row.status),
        error_message=row.error_message,
        provider=row.provider,
        payment_id=row.payment_id,
        actor=row.actor,
        created_at=row.created_at,
        source=row.source,
        observed_at=row.observed_at,
        refund_id=row.refund_id,
        reason=row.reason,
    )


# --- Inserts that may collide ----------------------------------------------------------------------


async def _insert_or_explain(
    connection: AsyncConnection,
    statement: Insert,
    parameters: Mapping[str, Any] | None = None,
    *,
    conflict: Callable[[], Awaitable[Exception | None]] | None,
) -> None:
    """Run an INSERT inside a savepoint; on a constraint violation ask `conflict` what it was.

    Constraint names and error texts differ between drivers, so the cause is established by looking
    for the conflicting row instead. The savepoint keeps the caller's transaction usable: PostgreSQL
    refuses every statement of a transaction after a failed one. With no `conflict` to explain, a
    violation can only be raised as it is, and the savepoint (two round trips) is left out.
    """
    if conflict is None:
        await connection.execute(statement, parameters)
        return
    try:
        async with connection.begin_nested():
            await connection.execute(statement, parameters)
    except IntegrityError as error:
        explained = await conflict()
        if explained is None:
            raise
        raise explained from error


# --- Repositories ----------------------------------------------------------------------------------

# The statements of every payment operation, built once: SQLAlchemy caches a statement's compiled
# form by a fingerprint it computes once per statement object, where building the query per call
# costs that fingerprint (and CPU: docs/performance.md) every time. Values travel as bound parameters.
_ID, _EXPECTED_VERSION = "_id", "_expected_version"
_PAYMENT = select(payments).where(payments.c.id == bindparam(_ID))
# FOR UPDATE is omitted by SQLAlchemy on SQLite, where BEGIN IMMEDIATE already serialises writers.
_PAYMENT_FOR_UPDATE = _PAYMENT.with_for_update()
_PAYMENT_BY_EXTERNAL_ID = select(payments).where(
    payments.c.provider == bindparam("_provider"), payments.c.external_id == bindparam("_external_id")
)
_PAYMENT_BY_IDEMPOTENCY_KEY = select(payments).where(payments.c.idempotency_key == bindparam("_key"))
# A compare-and-set on the version; the SET columns are the parameters' other keys.
_UPDATE_PAYMENT = update(payments).where(
    payments.c.id == bindparam(_ID), payments.c.version == bindparam(_EXPECTED_VERSION)
)


class SqlAlchemyPaymentRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, payment: Payment) -> None:
        async def conflict() -> Exception | None:
            key = payment.idempotency_key
            if key is not None and await self.get_by_idempotency_key(key) is not None:
                return DuplicateIdempotencyKey(key)
            return None

        # The row goes as parameters of one constant statement, whose compiled form SQLAlchemy caches:
        # `.values(row)` would build and fingerprint a new statement for every payment.
        await _insert_or_explain(
            self._connection, insert(payments), payment_row(payment),
            # Without an idempotency key no conflict has an explanation: nothing to keep usable.
            conflict=conflict if payment.idempotency_key is not None else None,
        )

    async def get(self, payment_id: str, *, for_update: bool = False) -> Payment | None:
        return await self._one(_PAYMENT_FOR_UPDATE if for_update else _PAYMENT, {_ID: payment_id})

    async def get_by_external_id(self, provider: str, external_id: str) -> Payment | None:
        return await self._one(_PAYMENT_BY_EXTERNAL_ID, {"_provider": provider, "_external_id": external_id})

    async def get_by_idempotency_key(self, key: str) -> Payment | None:
        return await self._one(_PAYMENT_BY_IDEMPOTENCY_KEY, {"_key": key})

    async def list_by_order(self, order_id: str, *, shop_ids: Collection[int] | None) -> Sequence[Payment]:
        query = select(payments).where(payments.c.order_id == order_id).order_by(payments.c.id.desc())
        return await self._many(_within_shops(query, shop_ids))

    async def list_by_customer(
        self, customer_id: str, *, shop_ids: Collection[int] | None, before_id: str | None, limit: int
    ) -> Sequence[Payment]:
        # Ids are time-ordered (ULIDs), so `id` is both the order and the cursor.
        query = select(payments).where(payments.c.customer_id == customer_id)
        if before_id is not None:
            query = query.where(payments.c.id < before_id)
        return await self._many(_within_shops(query, shop_ids).order_by(payments.c.id.desc()).limit(limit))

    async def search(self, search: PaymentSearch, *, shop_ids: Collection[int] | None, limit: int) -> Sequence[Payment]:
        query = select(payments)
        if search.text is not None:
            text = search.text
            columns = (payments.c.id, payments.c.external_id, payments.c.order_id, payments.c.customer_id)
            query = query.where(or_(*(column == text for column in columns)))
        for column, value in (
            (payments.c.shop_id, search.shop_id),
            (payments.c.provider, search.provider),
            (payments.c.status, search.status),
        ):
            if value is not None:
                query = query.where(column == value)
        if search.created_from is not None:
            query = query.where(payments.c.created_at >= search.created_from)
        if search.created_before is not None:
            query = query.where(payments.c.created_at < search.created_before)
        if search.before_id is not None:
            query = query.where(payments.c.id < search.before_id)
        if search.outcome_unknown:
            query = query.where(payments.c.status == "pending", payments.c.error_code == ProviderOutcomeUnknown.code)
        if search.refund_outcome_unknown:
            lost = select(refunds.c.payment_id).where(
                refunds.c.status == "pending", refunds.c.error_code == ProviderOutcomeUnknown.code
            )
            query = query.where(payments.c.id.in_(lost))
        if search.expired_before is not None:
            query = query.where(payments.c.status == "pending", payments.c.expires_at < search.expired_before)
        return await self._many(_within_shops(query, shop_ids).order_by(payments.c.id.desc()).limit(limit))

    async def update(self, payment: Payment, expected_version: int) -> bool:
        values = payment_row(payment)
        values[_ID] = values.pop("id")
        values[_EXPECTED_VERSION] = expected_version
        values["version"] = expected_version + 1
        result = await self._connection.execute(_UPDATE_PAYMENT, values)
        if result.rowcount != 1:
            return False
        payment.version = expected_version + 1
        return True

    async def _one(self, query: Select[Any], parameters: Mapping[str, Any] | None = None) -> Payment | None:
        row = (await self._connection.execute(query, parameters)).one_or_none()
        return None if row is None else payment_from_row(row)

    async def _many(self, query: Select[Any]) -> list[Payment]:
        return [payment_from_row(row) for row in await self._connection.execute(query)]


def _within_shops(query: Select[Any], shop_ids: Collection[int] | None) -> Select[Any]:
    return query if shop_ids is None else query.where(payments.c.shop_id.in_(list(shop_ids)))


class SqlAlchemyRefundRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, refund: Refund) -> None:
        async def conflict() -> Exception | None:
            key = refund.idempotency_key
            if key is not None and await self.get_by_idempotency_key(key) is not None:
                return DuplicateIdempotencyKey(key)
            return None

        await _insert_or_explain(self._connection, insert(refunds), _refund_row(refund), conflict=conflict)

    async def get(self, refund_id: str, *, for_update: bool = False) -> Refund | None:
        query = select(refunds).where(refunds.c.id == refund_id)
        return await self._one(query.with_for_update() if for_update else query)

    async def get_by_provider_id(self, provider: str, external_id: str) -> Refund | None:
        return await self._one(
            select(refunds)
            .join(payments, payments.c.id == refunds.c.payment_id)
            .where(payments.c.provider == provider, refunds.c.external_id == external_id)
        )

    async def get_by_idempotency_key(self, key: str) -> Refund | None:
        return await self._one(select(refunds).where(refunds.c.idempotency_key == key))

    async def update(self, refund: Refund) -> None:
        values = _refund_row(refund)
        del values["id"]
        await self._connection.execute(update(refunds).where(refunds.c.id == refund.id).values(values))

    async def list_for_payment(self, payment_id: str) -> Sequence[Refund]:
        rows = await self._connection.execute(
            select(refunds).where(refunds.c.payment_id == payment_id).order_by(refunds.c.created_at, refunds.c.id)
        )
        return [_refund_from_row(row) for row in rows]

    async def _one(self, query: Select[Any]) -> Refund | None:
        row = (await self._connection.execute(query)).one_or_none()
        return None if row is None else _refund_from_row(row)


class SqlAlchemyRouteRepository:
    def __init__(self, connection: AsyncConnection, *, cipher: SecretCipher | None = None) -> None:
        self._connection = connection
        self._cipher = cipher

    async def get(self, shop_id: int, provider: str) -> SellerRoute | None:
        row = (
            await self._connection.execute(
                select(seller_routes).where(seller_routes.c.shop_id == shop_id, seller_routes.c.provider == provider)
            )
        ).one_or_none()
        return None if row is None else _route_from_row(row, self._cipher)

    async def list(self, *, provider: str | None = None, shop_id: int | None = None) -> Sequence[SellerRoute]:
        query = select(seller_routes).order_by(seller_routes.c.shop_id, seller_routes.c.provider)
        if provider is not None:
            query = query.where(seller_routes.c.provider == provider)
        if shop_id is not None:
            query = query.where(seller_routes.c.shop_id == shop_id)
        return [_route_from_row(row, self._cipher) for row in await self._connection.execute(query)]

    async def add(self, route: SellerRoute) -> None:
        async def conflict() -> Exception | None:
            if await self.get(route.shop_id, route.provider) is not None:
                return RouteAlreadyExists(route.shop_id, route.provider)
            return None

        row = _route_row(route, self._cipher)
        await _insert_or_explain(self._connection, insert(seller_routes).values(row), conflict=conflict)
        await announce(self._connection, route_topic(route.shop_id, route.provider))

    async def update(self, route: SellerRoute) -> None:
        values = _route_row(route, self._cipher)
        del values["shop_id"], values["provider"]
        await self._connection.execute(
            update(seller_routes)
            .where(seller_routes.c.shop_id == route.shop_id, seller_routes.c.provider == route.provider)
            .values(values)
        )
        await announce(self._connection, route_topic(route.shop_id, route.provider))


class SqlAlchemyAuditLog:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def append(self, entry: AuditEntry) -> None:
        await self._connection.execute(insert(payment_log), audit_row(entry))

    async def list(self, *, shop_id: int | None, limit: int) -> Sequence[AuditEntry]:
        # Newest first by id, the order entries were written in, even when timestamps tie.
        query = select(payment_log).order_by(payment_log.c.id.desc()).limit(limit)
        if shop_id is not None:
            query = query.where(payment_log.c.shop_id == shop_id)
        return [_audit_from_row(row) for row in await self._connection.execute(query)]

    async def list_for_payment(self, payment_id: str) -> Sequence[AuditEntry]:
        query = select(payment_log).where(payment_log.c.payment_id == payment_id).order_by(payment_log.c.id)
        return [_audit_from_row(row) for row in await self._connection.execute(query)]


class SqlAlchemyProviderEventLog:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def seen(self, provider: str, event_id: str) -> bool:
        found = await self._connection.execute(
            select(provider_events.c.event_id).where(
                provider_events.c.provider == provider, provider_events.c.event_id == event_id
            )
        )
        return found.first() is not None

    async def first_time(self, provider: str, event_id: str, at: datetime) -> bool:
        """Record a provider event; False when it was recorded before (a redelivery)."""

        async def conflict() -> Exception | None:
            return _AlreadySeen() if await self.seen(provider, event_id) else None

        try:
            await _insert_or_explain(
                self._connection,
                insert(provider_events).values(provider=provider, event_id=event_id, received_at=at),
                conflict=conflict,
            )
        except _AlreadySeen:
            return False
        return True


class _AlreadySeen(Exception):
    pass
