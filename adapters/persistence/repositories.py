"""The storage ports on SQLAlchemy Core, with the row <-> entity mapping written out by hand."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Insert, Row, Select, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.audit import AuditEntry, Outcome
from domain.money import Money
from domain.payment import Payment, PaymentMethod, PaymentStatus
from domain.refund import Refund, RefundStatus
from domain.seller_route import Credentials, SellerRoute

from application.errors import DuplicateIdempotencyKey, RouteAlreadyExists

from adapters.persistence.tables import payment_log, payments, refunds, seller_routes

# --- Mapping -------------------------------------------------------------------------------------


def _payment_row(payment: Payment) -> dict[str, Any]:
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
    }


def _payment_from_row(row: Row[Any]) -> Payment:
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
    )


def credentials_to_text(credentials: Credentials) -> str:
    """The one place credentials are serialised for storage (encryption at rest will go here)."""
    return json.dumps(dict(credentials.values), sort_keys=True)


def credentials_from_text(text: str) -> Credentials:
    """The inverse of `credentials_to_text`."""
    return Credentials(json.loads(text))


def _route_row(route: SellerRoute) -> dict[str, Any]:
    return {
        "shop_id": route.shop_id,
        "provider": route.provider,
        "merchant_account": route.merchant_account,
        "credentials": credentials_to_text(route.credentials),
        "is_active": route.is_active,
        "created_at": route.created_at,
        "updated_at": route.updated_at,
    }


def _route_from_row(row: Row[Any]) -> SellerRoute:
    return SellerRoute(
        shop_id=row.shop_id,
        provider=row.provider,
        merchant_account=row.merchant_account,
        credentials=credentials_from_text(row.credentials),
        is_active=row.is_active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _audit_row(entry: AuditEntry) -> dict[str, Any]:
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
    )


# --- Inserts that may collide ----------------------------------------------------------------------


async def _insert_or_explain(
    connection: AsyncConnection,
    statement: Insert,
    *,
    conflict: Callable[[], Awaitable[Exception | None]],
) -> None:
    """Run an INSERT inside a savepoint; on a constraint violation ask `conflict` what it was.

    Constraint names and error texts differ between drivers, so the cause is established by looking
    for the conflicting row instead. The savepoint keeps the caller's transaction usable: PostgreSQL
    refuses every statement of a transaction after a failed one.
    """
    try:
        async with connection.begin_nested():
            await connection.execute(statement)
    except IntegrityError as error:
        explained = await conflict()
        if explained is None:
            raise
        raise explained from error


# --- Repositories ----------------------------------------------------------------------------------


class SqlAlchemyPaymentRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, payment: Payment) -> None:
        async def conflict() -> Exception | None:
            key = payment.idempotency_key
            if key is not None and await self.get_by_idempotency_key(key) is not None:
                return DuplicateIdempotencyKey(key)
            return None

        await _insert_or_explain(self._connection, insert(payments).values(_payment_row(payment)), conflict=conflict)

    async def get(self, payment_id: str, *, for_update: bool = False) -> Payment | None:
        query = select(payments).where(payments.c.id == payment_id)
        if for_update:
            # Omitted by SQLAlchemy on SQLite, where BEGIN IMMEDIATE already serialises writers.
            query = query.with_for_update()
        return await self._one(query)

    async def get_by_external_id(self, provider: str, external_id: str) -> Payment | None:
        return await self._one(
            select(payments).where(payments.c.provider == provider, payments.c.external_id == external_id)
        )

    async def get_by_idempotency_key(self, key: str) -> Payment | None:
        return await self._one(select(payments).where(payments.c.idempotency_key == key))

    async def update(self, payment: Payment, expected_version: int) -> bool:
        values = _payment_row(payment)
        del values["id"]
        values["version"] = expected_version + 1
        result = await self._connection.execute(
            update(payments)
            .where(payments.c.id == payment.id, payments.c.version == expected_version)
            .values(values)
        )
        if result.rowcount != 1:
            return False
        payment.version = expected_version + 1
        return True

    async def _one(self, query: Select[Any]) -> Payment | None:
        row = (await self._connection.execute(query)).one_or_none()
        return None if row is None else _payment_from_row(row)


class SqlAlchemyRefundRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, refund: Refund) -> None:
        async def conflict() -> Exception | None:
            key = refund.idempotency_key
            if key is not None and await self.get_by_idempotency_key(key) is not None:
                return DuplicateIdempotencyKey(key)
            return None

        await _insert_or_explain(self._connection, insert(refunds).values(_refund_row(refund)), conflict=conflict)

    async def get(self, refund_id: str) -> Refund | None:
        return await self._one(select(refunds).where(refunds.c.id == refund_id))

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
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get(self, shop_id: int, provider: str) -> SellerRoute | None:
        row = (
            await self._connection.execute(
                select(seller_routes).where(seller_routes.c.shop_id == shop_id, seller_routes.c.provider == provider)
            )
        ).one_or_none()
        return None if row is None else _route_from_row(row)

    async def list(self, *, provider: str | None = None) -> Sequence[SellerRoute]:
        query = select(seller_routes).order_by(seller_routes.c.shop_id, seller_routes.c.provider)
        if provider is not None:
            query = query.where(seller_routes.c.provider == provider)
        return [_route_from_row(row) for row in await self._connection.execute(query)]

    async def add(self, route: SellerRoute) -> None:
        async def conflict() -> Exception | None:
            if await self.get(route.shop_id, route.provider) is not None:
                return RouteAlreadyExists(route.shop_id, route.provider)
            return None

        await _insert_or_explain(self._connection, insert(seller_routes).values(_route_row(route)), conflict=conflict)

    async def update(self, route: SellerRoute) -> None:
        values = _route_row(route)
        del values["shop_id"], values["provider"]
        await self._connection.execute(
            update(seller_routes)
            .where(seller_routes.c.shop_id == route.shop_id, seller_routes.c.provider == route.provider)
            .values(values)
        )


class SqlAlchemyAuditLog:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def append(self, entry: AuditEntry) -> None:
        await self._connection.execute(insert(payment_log).values(_audit_row(entry)))

    async def list(self, *, shop_id: int | None, limit: int) -> Sequence[AuditEntry]:
        # Newest first by id, the order entries were written in, even when timestamps tie.
        query = select(payment_log).order_by(payment_log.c.id.desc()).limit(limit)
        if shop_id is not None:
            query = query.where(payment_log.c.shop_id == shop_id)
        return [_audit_from_row(row) for row in await self._connection.execute(query)]
