"""The persistence contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from alembic import command as alembic_command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.access import ApiKey
from domain.audit import AuditEntry, Outcome
from domain.identifiers import MAX_SHOP_ID
from domain.money import MAX_MINOR_UNITS, Money
from domain.payment import Payment, PaymentMethod, PaymentStatus
from domain.refund import Refund, RefundStatus
from domain.seller_route import Credentials, SellerRoute

from application.errors import DuplicateIdempotencyKey, RouteAlreadyExists
from application.ports import IdempotencyClaim, IdempotencyState, IdempotencyStore, StoredResponse

from adapters.persistence.database import autocommit_pool, create_engine
from adapters.persistence.idempotency import idempotency_store_for
from adapters.persistence.migrate import MIGRATIONS, DatabaseNotMigrated, check_migrated, head_revisions, upgrade
from adapters.persistence.repositories import SqlAlchemyPaymentRepository
from adapters.persistence.stores import SqlAlchemyApiKeyStore, SqlAlchemyIdempotencyStore, SqlAlchemyRouteStore
from adapters.persistence.tables import api_keys, metadata, payments, seller_routes
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork

from tests.support.ciphers import default_cipher

pytestmark = pytest.mark.anyio

# Not UTC on purpose: what goes in at +05:00 must come back as the same instant, in UTC.
ALMATY = timezone(timedelta(hours=5))
T0 = datetime(2025, 3, 1, 17, 30, 15, 123456, tzinfo=ALMATY)
KASPI_BIN = "990140001233"


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _shop_id() -> int:
    return secrets.randbelow(MAX_SHOP_ID) + 1


def _payment(**changes: Any) -> Payment:
    """A payment with every optional field set, so a round trip that drops one is noticed."""
    fields: dict[str, Any] = {
        "id": _id("pay"),
        "shop_id": _shop_id(),
        "provider": "kaspi",
        "method": PaymentMethod.LINK,
        "amount": Money(MAX_MINOR_UNITS, "KZT"),
        "refunded": Money(1_000_001, "KZT"),
        "refund_reserved": Money(250_050, "KZT"),
        "merchant_account": KASPI_BIN,
        "description": "Заказ №42 — chair",
        "status": PaymentStatus.PARTIALLY_REFUNDED,
        "provider_status": "Processed",
        "external_id": _id("ext"),
        "phone": "77015211545",
        "payment_link": "https://pay.example/qr/abc?x=1",
        "expires_at": T0 + timedelta(hours=24),
        "idempotency_key": _id("idem"),
        "error_code": "provider_outcome_unknown",
        "error_message": "timed out after 10 s",
        "version": 3,
        "status_source": "webhook:kaspi",
        "status_observed_at": T0 + timedelta(minutes=4),
        "wallet": "apple_pay",
        "created_at": T0,
        "updated_at": T0 + timedelta(minutes=5, microseconds=1),
    }
    fields.update(changes)
    return Payment(**fields)


def _refund(payment: Payment, **changes: Any) -> Refund:
    fields: dict[str, Any] = {
        "id": _id("re"),
        "payment_id": payment.id,
        "shop_id": payment.shop_id,
        "amount": Money(250_050, "KZT"),
        "status": RefundStatus.FAILED,
        "external_id": _id("rext"),
        "idempotency_key": _id("idem"),
        "error_code": "declined",
        "error_message": "refund window closed",
        "created_at": T0 + timedelta(hours=1),
        "updated_at": T0 + timedelta(hours=1, seconds=3),
        "status_source": "operator:cli",
        "status_observed_at": T0 + timedelta(hours=1, seconds=2),
    }
    fields.update(changes)
    return Refund(**fields)


def _route(**changes: Any) -> SellerRoute:
    fields: dict[str, Any] = {
        "shop_id": _shop_id(),
        "provider": "kaspi",
        "merchant_account": KASPI_BIN,
        "credentials": Credentials({"device_token": "tok-секрет", "organization": "ТОО «Ромашка»"}),
        "is_active": False,
        "created_at": T0,
        "updated_at": T0 + timedelta(days=1),
    }
    fields.update(changes)
    return SellerRoute(**fields)


def _audit(shop_id: int | None, operation: str = "create", **changes: Any) -> AuditEntry:
    fields: dict[str, Any] = {
        "operation_type": operation,
        "status": Outcome.PENDING,
        "created_at": T0,
        "shop_id": shop_id,
        "organization_bin": KASPI_BIN,
        "external_id": _id("ext"),
        "payment_id": _id("pay"),
        "amount_minor": MAX_MINOR_UNITS,
        "currency": "KZT",
        "provider": "kaspi",
        "error_message": "outcome unknown: timeout",
        "actor": "key_ops",
        "source": "poller",
        "observed_at": T0 - timedelta(seconds=1),
        "refund_id": _id("re"),
    }
    fields.update(changes)
    return AuditEntry(**fields)


def _fields(entity: Any) -> dict[str, Any]:
    return attrs.asdict(entity, recurse=True)


def _assert_utc(*values: datetime | None) -> None:
    for value in values:
        assert value is not None and value.tzinfo is not None and value.utcoffset() == timedelta(0)


async def _store(engine: AsyncEngine, *payments: Payment) -> None:
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        for payment in payments:
            await uow.payments.add(payment)
        await uow.commit()


async def _load(engine: AsyncEngine, payment_id: str) -> Payment:
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        payment = await uow.payments.get(payment_id)
    assert payment is not None
    return payment


# --- Payments --------------------------------------------------------------------------------------


async def test_a_payment_round_trips_every_field_exactly(engine: AsyncEngine) -> None:
    payment = _payment()
    await _store(engine, payment)

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        by_id = await uow.payments.get(payment.id)
        by_external_id = await uow.payments.get_by_external_id("kaspi", payment.external_id or "")
        by_key = await uow.payments.get_by_idempotency_key(payment.idempotency_key or "")

    for loaded in (by_id, by_external_id, by_key):
        assert loaded is not None
        assert _fields(loaded) == _fields(payment)
        _assert_utc(loaded.created_at, loaded.updated_at, loaded.expires_at)
    assert by_id is not None and by_id.created_at == datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


async def test_a_payment_with_only_the_required_fields_round_trips(engine: AsyncEngine) -> None:
    payment = Payment(
        id=_id("pay"),
        shop_id=_shop_id(),
        provider="kaspi",
        method=PaymentMethod.REMOTE,
        amount=Money(1, "KZT"),
        merchant_account=KASPI_BIN,
        description="",
        created_at=T0,
        updated_at=T0,
    )
    await _store(engine, payment)

    assert _fields(await _load(engine, payment.id)) == _fields(payment)


async def test_unknown_payments_are_none(engine: AsyncEngine) -> None:
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        assert await uow.payments.get(_id("pay")) is None
        assert await uow.payments.get(_id("pay"), for_update=True) is None
        assert await uow.payments.get_by_external_id("kaspi", _id("ext")) is None
        assert await uow.payments.get_by_idempotency_key(_id("idem")) is None


async def test_an_external_id_is_looked_up_within_its_provider(engine: AsyncEngine) -> None:
    payment = _payment()
    await _store(engine, payment)

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        assert await uow.payments.get_by_external_id("stripe", payment.external_id or "") is None


async def test_compare_and_set_stores_the_change_and_advances_the_version(engine: AsyncEngine) -> None:
    payment = _payment(status=PaymentStatus.PENDING, refunded=None, refund_reserved=None, version=1)
    await _store(engine, payment)

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        current = await uow.payments.get(payment.id, for_update=True)
        assert current is not None
        current.settle(PaymentStatus.SUCCEEDED, provider_status="Processed", at=T0 + timedelta(minutes=9))
        assert await uow.payments.update(current, expected_version=1) is True
        assert current.version == 2
        await uow.commit()

    stored = await _load(engine, payment.id)
    assert _fields(stored) == _fields(current)
    assert stored.version == 2 and stored.status is PaymentStatus.SUCCEEDED


async def test_a_losing_compare_and_set_returns_false_and_changes_nothing(engine: AsyncEngine) -> None:
    payment = _payment(status=PaymentStatus.PENDING, refunded=None, refund_reserved=None, version=1)
    await _store(engine, payment)
    winner, loser = await _load(engine, payment.id), await _load(engine, payment.id)

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        winner.settle(PaymentStatus.SUCCEEDED, provider_status="Processed", at=T0 + timedelta(minutes=1))
        assert await uow.payments.update(winner, expected_version=1) is True
        await uow.commit()
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        loser.settle(PaymentStatus.FAILED, provider_status="Error", at=T0 + timedelta(minutes=2))
        assert await uow.payments.update(loser, expected_version=1) is False
        await uow.commit()

    assert loser.version == 1
    assert _fields(await _load(engine, payment.id)) == _fields(winner)


async def test_locked_read_modify_write_serialises_concurrent_writers(engine: AsyncEngine) -> None:
    # PostgreSQL serialises through FOR UPDATE, SQLite through BEGIN IMMEDIATE; without them two
    # writers read the same version and one loses (or SQLite answers "database is locked").
    payment = _payment(description="")
    await _store(engine, payment)

    async def append_one_mark() -> None:
        async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
            current = await uow.payments.get(payment.id, for_update=True)
            assert current is not None
            current.description += "+"
            assert await uow.payments.update(current, expected_version=current.version)
            await uow.commit()

    async with anyio.create_task_group() as tasks:
        for _ in range(5):
            tasks.start_soon(append_one_mark)

    stored = await _load(engine, payment.id)
    assert (stored.description, stored.version) == ("+++++", payment.version + 5)


async def test_a_duplicate_idempotency_key_is_reported_and_the_transaction_goes_on(engine: AsyncEngine) -> None:
    first = _payment()
    await _store(engine, first)
    duplicate = _payment(idempotency_key=first.idempotency_key)
    other = _payment()

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        with pytest.raises(DuplicateIdempotencyKey) as raised:
            await uow.payments.add(duplicate)
        await uow.payments.add(other)
        await uow.commit()

    assert raised.value.key == first.idempotency_key
    assert _fields(await _load(engine, other.id)) == _fields(other)
    assert _fields(await _load(engine, first.id)) == _fields(first)
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        assert await uow.payments.get(duplicate.id) is None


async def test_other_conflicts_are_not_mistaken_for_a_duplicate_idempotency_key(engine: AsyncEngine) -> None:
    first = _payment()
    await _store(engine, first)

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        with pytest.raises(IntegrityError):
            await uow.payments.add(_payment(id=first.id))
        with pytest.raises(IntegrityError):
            await uow.payments.add(_payment(external_id=first.external_id))


async def test_the_database_refuses_refunds_beyond_the_paid_amount(engine: AsyncEngine) -> None:
    payment = _payment(amount=Money(100, "KZT"), refunded=Money(60, "KZT"), refund_reserved=Money(41, "KZT"))

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        with pytest.raises(IntegrityError):
            await uow.payments.add(payment)


async def test_naive_datetimes_are_refused(engine: AsyncEngine) -> None:
    payment = _payment(created_at=datetime(2025, 3, 1, 12, 0))

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        with pytest.raises(StatementError, match="naive datetime"):
            await uow.payments.add(payment)


# --- Refunds ---------------------------------------------------------------------------------------


async def test_refunds_round_trip_update_and_list_in_creation_order(engine: AsyncEngine) -> None:
    payment = _payment()
    later = _refund(payment, created_at=T0 + timedelta(hours=2), status=RefundStatus.PENDING)
    earlier = _refund(payment, idempotency_key=None, external_id=None, error_code=None, error_message=None)
    elsewhere = _refund(_payment())
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        await uow.payments.add(payment)
        await uow.refunds.add(later)
        await uow.refunds.add(earlier)
        await uow.commit()

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        by_id = await uow.refunds.get(later.id)
        by_key = await uow.refunds.get_by_idempotency_key(later.idempotency_key or "")
        listed = await uow.refunds.list_for_payment(payment.id)
        assert await uow.refunds.get(elsewhere.id) is None
        assert await uow.refunds.get_by_idempotency_key(_id("idem")) is None

    assert by_id is not None and by_key is not None
    assert _fields(by_id) == _fields(later) == _fields(by_key)
    _assert_utc(by_id.created_at, by_id.updated_at)
    assert [_fields(refund) for refund in listed] == [_fields(earlier), _fields(later)]

    later.succeed("kaspi-refund-1", T0 + timedelta(hours=3))
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        await uow.refunds.update(later)
        await uow.commit()
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        updated = await uow.refunds.get(later.id)
    assert updated is not None and _fields(updated) == _fields(later)


async def test_a_refund_is_found_by_its_provider_id_within_its_provider(engine: AsyncEngine) -> None:
    payment = _payment(provider="stripe")
    refund = _refund(payment, external_id=_id("re"))
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        await uow.payments.add(payment)
        await uow.refunds.add(refund)
        await uow.commit()

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        found = await uow.refunds.get_by_provider_id("stripe", refund.external_id or "")
        locked = await uow.refunds.get(refund.id, for_update=True)
        elsewhere = await uow.refunds.get_by_provider_id("yookassa", refund.external_id or "")

    assert found is not None and locked is not None and _fields(found) == _fields(refund) == _fields(locked)
    assert elsewhere is None


async def test_a_refund_needs_its_payment(engine: AsyncEngine) -> None:
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        with pytest.raises(IntegrityError):
            await uow.refunds.add(_refund(_payment()))


async def test_a_duplicate_refund_idempotency_key_is_reported_and_the_transaction_goes_on(
    engine: AsyncEngine,
) -> None:
    payment = _payment()
    first = _refund(payment)
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        await uow.payments.add(payment)
        await uow.refunds.add(first)
        await uow.commit()
    other = _refund(payment)

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        with pytest.raises(DuplicateIdempotencyKey):
            await uow.refunds.add(_refund(payment, idempotency_key=first.idempotency_key))
        await uow.refunds.add(other)
        await uow.commit()

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        listed = await uow.refunds.list_for_payment(payment.id)
    assert {refund.id for refund in listed} == {first.id, other.id}


# --- Routes ----------------------------------------------------------------------------------------


async def test_routes_round_trip_update_and_list(engine: AsyncEngine) -> None:
    kaspi = _route()
    stripe = _route(shop_id=kaspi.shop_id, provider="stripe", merchant_account="acct_1Nv0", is_active=True)
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        await uow.routes.add(kaspi)
        await uow.routes.add(stripe)
        await uow.commit()

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        loaded = await uow.routes.get(kaspi.shop_id, "kaspi")
        kaspi_routes = await uow.routes.list(provider="kaspi")
        every_route = await uow.routes.list()
        assert await uow.routes.get(kaspi.shop_id, "yookassa") is None
    assert loaded == kaspi
    _assert_utc(loaded.created_at, loaded.updated_at)
    assert kaspi in kaspi_routes and stripe not in kaspi_routes
    assert {provider for provider in ("kaspi", "stripe") if _route_in(every_route, kaspi.shop_id, provider)} == {
        "kaspi",
        "stripe",
    }

    changed = attrs.evolve(
        kaspi,
        credentials=Credentials({"device_token": "rotated"}),
        is_active=True,
        updated_at=T0 + timedelta(days=2),
    )
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        await uow.routes.update(changed)
        await uow.commit()
    assert await SqlAlchemyRouteStore(engine, cipher=default_cipher()).get(kaspi.shop_id, "kaspi") == changed
    assert await SqlAlchemyRouteStore(engine, cipher=default_cipher()).get(kaspi.shop_id, "stripe") == stripe


def _route_in(routes: Any, shop_id: int, provider: str) -> bool:
    return any(route.shop_id == shop_id and route.provider == provider for route in routes)


async def test_a_second_route_for_the_same_shop_and_provider_is_refused(engine: AsyncEngine) -> None:
    route = _route()
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        await uow.routes.add(route)
        await uow.commit()
    other_shop = _route()

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        with pytest.raises(RouteAlreadyExists) as raised:
            await uow.routes.add(_route(shop_id=route.shop_id, is_active=True))
        await uow.routes.add(other_shop)
        await uow.commit()

    assert (raised.value.shop_id, raised.value.provider) == (route.shop_id, "kaspi")
    assert await SqlAlchemyRouteStore(engine, cipher=default_cipher()).get(route.shop_id, "kaspi") == route
    assert await SqlAlchemyRouteStore(engine, cipher=default_cipher()).get(other_shop.shop_id, "kaspi") == other_shop


async def test_the_route_store_sees_only_committed_routes(engine: AsyncEngine) -> None:
    route = _route()
    store = SqlAlchemyRouteStore(engine, cipher=default_cipher())
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        await uow.routes.add(route)
    assert await store.get(route.shop_id, "kaspi") is None


# --- Unit of work ----------------------------------------------------------------------------------


async def test_leaving_without_commit_keeps_nothing(engine: AsyncEngine) -> None:
    payment, route, entry = _payment(), _route(), _audit(_shop_id())
    refund = _refund(payment)
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        await uow.payments.add(payment)
        await uow.refunds.add(refund)
        await uow.routes.add(route)
        await uow.audit.append(entry)

    with pytest.raises(RuntimeError, match="use case failed"):
        async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
            await uow.routes.add(_route(shop_id=route.shop_id, provider="stripe", merchant_account="acct_1"))
            raise RuntimeError("use case failed")

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        assert await uow.payments.get(payment.id) is None
        assert await uow.refunds.get(refund.id) is None
        assert await uow.routes.get(route.shop_id, "kaspi") is None
        assert await uow.routes.get(route.shop_id, "stripe") is None
        assert await uow.audit.list(shop_id=entry.shop_id, limit=10) == []


async def test_a_committed_unit_of_work_keeps_everything(engine: AsyncEngine) -> None:
    payment, route, entry = _payment(), _route(), _audit(_shop_id())
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        await uow.payments.add(payment)
        await uow.routes.add(route)
        await uow.audit.append(entry)
        await uow.commit()

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        assert await uow.payments.get(payment.id) is not None
        assert await uow.routes.get(route.shop_id, "kaspi") == route
        assert len(await uow.audit.list(shop_id=entry.shop_id, limit=10)) == 1


# --- Audit log -------------------------------------------------------------------------------------


async def test_an_audit_entry_round_trips_every_field(engine: AsyncEngine) -> None:
    entry = _audit(_shop_id())
    bare = AuditEntry(operation_type="route_add", status=Outcome.SUCCESS, created_at=T0, shop_id=entry.shop_id)
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        await uow.audit.append(entry)
        await uow.audit.append(bare)
        await uow.commit()

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        newest, oldest = await uow.audit.list(shop_id=entry.shop_id, limit=10)
    assert newest.id is not None and oldest.id is not None and newest.id > oldest.id
    assert oldest == attrs.evolve(entry, id=oldest.id)
    assert newest == attrs.evolve(bare, id=newest.id)
    _assert_utc(oldest.created_at)


async def test_the_audit_log_lists_newest_first_by_shop_and_up_to_the_limit(engine: AsyncEngine) -> None:
    shop, other_shop = _shop_id(), _shop_id()
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        # Written out of timestamp order: the log's order is the order of writing.
        await uow.audit.append(_audit(shop, "first", created_at=T0 + timedelta(hours=1)))
        await uow.audit.append(_audit(shop, "second", created_at=T0))
        await uow.audit.append(_audit(other_shop, "elsewhere"))
        await uow.audit.append(_audit(shop, "third", created_at=T0))
        await uow.audit.append(_audit(None, "unattributed"))
        await uow.commit()

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        for_shop = await uow.audit.list(shop_id=shop, limit=10)
        limited = await uow.audit.list(shop_id=shop, limit=2)
        everyone = await uow.audit.list(shop_id=None, limit=3)
    assert [entry.operation_type for entry in for_shop] == ["third", "second", "first"]
    assert [entry.operation_type for entry in limited] == ["third", "second"]
    assert [entry.operation_type for entry in everyone] == ["unattributed", "third", "elsewhere"]


# --- Idempotency keys ------------------------------------------------------------------------------

StoreFactory = Callable[..., IdempotencyStore]


@pytest.fixture(params=["transactions", "composed"])
async def idempotency_store(
    request: pytest.FixtureRequest, engine: AsyncEngine, database_url: str
) -> AsyncIterator[StoreFactory]:
    """SQLAlchemy's store on each backend, and the one the container composes (on PostgreSQL, one
    statement per call on the autocommit pool): both keep the same promises."""
    if request.param == "transactions":
        yield lambda **options: SqlAlchemyIdempotencyStore(engine, **options)
        return
    async with autocommit_pool(database_url, size=4, timeout=5) as pool:
        yield lambda **options: idempotency_store_for(pool, engine, **options)


async def test_a_new_key_is_claimed_and_then_in_progress(idempotency_store: StoreFactory) -> None:
    store, key = idempotency_store(), _id("idem")

    assert await store.claim(key, "fp-1", T0) == IdempotencyClaim(IdempotencyState.STARTED)
    assert await store.claim(key, "fp-1", T0 + timedelta(seconds=30)) == IdempotencyClaim(
        IdempotencyState.IN_PROGRESS
    )


async def test_a_key_reused_for_another_request_is_a_mismatch(idempotency_store: StoreFactory) -> None:
    store, key = idempotency_store(), _id("idem")
    await store.claim(key, "fp-1", T0)

    assert await store.claim(key, "fp-2", T0) == IdempotencyClaim(IdempotencyState.MISMATCH)
    await store.complete(key, StoredResponse(201, b"{}"), T0)
    assert await store.claim(key, "fp-2", T0 + timedelta(hours=1)) == IdempotencyClaim(IdempotencyState.MISMATCH)


async def test_a_completed_key_replays_the_stored_response(idempotency_store: StoreFactory) -> None:
    store, key = idempotency_store(), _id("idem")
    response = StoredResponse(201, b'{"id": "pay_1", "amount": "100.50"}\x00\xff')
    await store.claim(key, "fp-1", T0)
    await store.complete(key, response, T0 + timedelta(seconds=1))

    assert await store.claim(key, "fp-1", T0 + timedelta(days=1)) == IdempotencyClaim(
        IdempotencyState.REPLAY, response
    )


async def test_a_stale_claim_is_taken_over_once(idempotency_store: StoreFactory) -> None:
    store, key = idempotency_store(stale_after=timedelta(minutes=2)), _id("idem")
    await store.claim(key, "fp-1", T0)

    assert (await store.claim(key, "fp-1", T0 + timedelta(minutes=2) - timedelta(microseconds=1))).state is (
        IdempotencyState.IN_PROGRESS
    )
    assert (await store.claim(key, "fp-1", T0 + timedelta(minutes=2))).state is IdempotencyState.STARTED
    # The takeover restarted the clock: the new owner is not stale.
    assert (await store.claim(key, "fp-1", T0 + timedelta(minutes=3))).state is IdempotencyState.IN_PROGRESS


async def test_concurrent_claims_start_exactly_one_request(idempotency_store: StoreFactory) -> None:
    store = idempotency_store(stale_after=timedelta(minutes=2))
    fresh, stale = _id("idem"), _id("idem")
    await store.claim(stale, "fp-1", T0)
    states: dict[str, list[IdempotencyState]] = {fresh: [], stale: []}

    async def claim(key: str) -> None:
        states[key].append((await store.claim(key, "fp-1", T0 + timedelta(minutes=10))).state)

    async with anyio.create_task_group() as tasks:
        for key in (fresh, fresh, fresh, stale, stale, stale):
            tasks.start_soon(claim, key)

    for key in (fresh, stale):
        assert Counter(states[key]) == {IdempotencyState.STARTED: 1, IdempotencyState.IN_PROGRESS: 2}


async def test_a_released_claim_can_be_claimed_again(idempotency_store: StoreFactory) -> None:
    store, key = idempotency_store(), _id("idem")
    await store.claim(key, "fp-1", T0)
    await store.release(key)

    assert (await store.claim(key, "fp-2", T0)).state is IdempotencyState.STARTED


async def test_release_never_forgets_a_completed_response(idempotency_store: StoreFactory) -> None:
    store, key = idempotency_store(), _id("idem")
    await store.claim(key, "fp-1", T0)
    await store.complete(key, StoredResponse(200, b"ok"), T0)
    await store.release(key)

    assert (await store.claim(key, "fp-1", T0)).state is IdempotencyState.REPLAY


# --- API keys --------------------------------------------------------------------------------------


async def test_api_keys_are_added_found_listed_and_revoked(engine: AsyncEngine) -> None:
    store = SqlAlchemyApiKeyStore(engine)
    ops = ApiKey(
        id=_id("key"), name="ops team", key_hash=secrets.token_hex(32), scopes=frozenset({"admin", "payments"}),
        created_at=T0, prefix="pgk_abcdefgh",
    )
    shop = ApiKey(
        id=_id("key"), name="shop", key_hash=secrets.token_hex(32), scopes=frozenset({"payments:read"}),
        created_at=T0 + timedelta(seconds=1), shops=frozenset({_shop_id(), _shop_id()}),
    )
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        await uow.api_keys.add(ops)
        await uow.api_keys.add(shop)
        assert await uow.api_keys.get(ops.id) == ops
        await uow.commit()

    found = await store.find_by_hash(ops.key_hash)
    assert found == ops
    assert found is not None
    _assert_utc(found.created_at)
    assert await store.find_by_hash(shop.key_hash) == shop
    assert await store.find_by_hash(secrets.token_hex(32)) is None
    listed = [key for key in await store.list() if key.id in (ops.id, shop.id)]
    assert listed == [ops, shop]

    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        assert await uow.api_keys.revoke(ops.id, T0 + timedelta(days=1)) is True
        assert await uow.api_keys.revoke(ops.id, T0 + timedelta(days=2)) is False
        assert await uow.api_keys.revoke(_id("key"), T0) is False
        await uow.commit()
    revoked = await store.find_by_hash(ops.key_hash)
    assert revoked == attrs.evolve(ops, revoked_at=T0 + timedelta(days=1))
    assert revoked is not None and not revoked.allows("admin")
    assert await store.find_by_hash(shop.key_hash) == shop


# --- JSON columns written before msgspec -----------------------------------------------------------


async def test_json_columns_written_by_the_former_encoder_still_read(engine: AsyncEngine) -> None:
    """Rows stored before msgspec wrote these columns: `json.dumps` with `", "` and `\\u` escapes."""
    cipher = default_cipher()
    payment = _payment(metadata={"order": "Заказ 1", "channel": "web"})
    route = _route()
    key = ApiKey(
        id=_id("key"), name="old", key_hash=secrets.token_hex(32), scopes=frozenset({"payments", "admin"}),
        created_at=T0, shops=frozenset({_shop_id(), _shop_id()}),
    )
    async with SqlAlchemyUnitOfWork(engine, cipher=cipher) as uow:
        await uow.payments.add(payment)
        await uow.routes.add(route)
        await uow.api_keys.add(key)
        await uow.commit()
    former = {
        "metadata": json.dumps(payment.metadata, sort_keys=True),
        "credentials": json.dumps(dict(route.credentials.values), sort_keys=True),
        "scopes": json.dumps(sorted(key.scopes)),
        "shops": json.dumps(sorted(key.shops or ())),
    }
    assert all(", " in text or "\\u" in text for text in former.values())  # not what is written today
    async with engine.begin() as connection:
        await connection.execute(update(payments).where(payments.c.id == payment.id).values(metadata=former["metadata"]))
        await connection.execute(
            update(seller_routes)
            .where(seller_routes.c.shop_id == route.shop_id, seller_routes.c.provider == route.provider)
            .values(credentials=cipher.encrypt(former["credentials"]))
        )
        await connection.execute(
            update(api_keys).where(api_keys.c.id == key.id).values(scopes=former["scopes"], shops=former["shops"])
        )

    assert _fields(await _load(engine, payment.id)) == _fields(payment)
    assert await SqlAlchemyRouteStore(engine, cipher=cipher).get(route.shop_id, route.provider) == route
    assert await SqlAlchemyApiKeyStore(engine).find_by_hash(key.key_hash) == key


async def test_an_api_key_change_without_commit_keeps_nothing(engine: AsyncEngine) -> None:
    key = ApiKey(id=_id("key"), name="k", key_hash=secrets.token_hex(32), scopes=frozenset({"admin"}), created_at=T0)
    async with SqlAlchemyUnitOfWork(engine, cipher=default_cipher()) as uow:
        await uow.api_keys.add(key)
    assert await SqlAlchemyApiKeyStore(engine).find_by_hash(key.key_hash) is None


# --- Locking (PostgreSQL: SQLite has no row locks) -------------------------------------------------


async def _backend_pid(connection: AsyncConnection) -> int:
    pid: int = await connection.scalar(text("SELECT pg_backend_pid()"))
    return pid


async def _blocked_by(observer: AsyncConnection, pid: int) -> list[int]:
    blockers: list[int] = await observer.scalar(text("SELECT pg_blocking_pids(:pid)"), {"pid": pid})
    return blockers


@pytest.mark.postgres
async def test_for_update_blocks_a_second_transaction_until_the_first_commits(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        payment = _payment(version=1)
        await _store(engine, payment)
        first_holds_the_lock = anyio.Event()
        order: list[str] = []

        async with engine.connect() as first, engine.connect() as second, engine.connect() as observer:
            first_pid, second_pid = await _backend_pid(first), await _backend_pid(second)

            async def second_transaction() -> None:
                await first_holds_the_lock.wait()
                locked = await SqlAlchemyPaymentRepository(second).get(payment.id, for_update=True)
                assert locked is not None
                order.append(f"second locked version {locked.version}")
                await second.commit()

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(second_transaction)
                repository = SqlAlchemyPaymentRepository(first)
                held = await repository.get(payment.id, for_update=True)
                assert held is not None
                first_holds_the_lock.set()
                # PostgreSQL itself says when the second transaction waits on the first one's lock.
                with anyio.fail_after(10):
                    while first_pid not in await _blocked_by(observer, second_pid):
                        pass
                held.description = "changed under the lock"
                assert await repository.update(held, expected_version=1)
                order.append("first commits")
                await first.commit()

        assert order == ["first commits", "second locked version 2"]
    finally:
        await engine.dispose()


# --- Migrations ------------------------------------------------------------------------------------


async def test_check_migrated_refuses_an_unmigrated_database_until_upgraded(unmigrated_database_url: str) -> None:
    engine = create_engine(unmigrated_database_url)
    try:
        with pytest.raises(DatabaseNotMigrated) as raised:
            await check_migrated(engine)
        head = head_revisions()
        assert (raised.value.current, raised.value.head) == ((), head)
        expected = f"database is not migrated (at base, code expects {', '.join(head)}): run `paygate migrate`"
        assert str(raised.value) == expected

        await upgrade(unmigrated_database_url)

        await check_migrated(engine)
    finally:
        await engine.dispose()


def test_the_migration_history_has_one_head_for_the_next_revision_to_follow() -> None:
    assert head_revisions() == ("0008_payment_wallet",)


async def test_a_database_at_the_three_former_heads_migrates_to_the_merge(unmigrated_database_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["url"] = unmigrated_database_url
    former_heads = ("0003_access_secrets", "0005_blocked_webhook_deliveries", "0005_refund_lifecycle")
    for revision in former_heads:
        await anyio.to_thread.run_sync(alembic_command.upgrade, config, revision)
    engine = create_engine(unmigrated_database_url)
    try:
        with pytest.raises(DatabaseNotMigrated) as raised:
            await check_migrated(engine)
        assert raised.value.current == former_heads

        await upgrade(unmigrated_database_url)

        await check_migrated(engine)
    finally:
        await engine.dispose()


def _schema_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    differences: list[Any] = compare_metadata(context, metadata)
    return differences


async def test_the_migrations_build_exactly_the_tables_the_code_maps(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert await connection.run_sync(_schema_differences) == []


# --- Engine ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://paygate@db.internal:5432/paygate", "postgresql+psycopg"),
        ("postgres://paygate@db.internal/paygate", "postgresql+psycopg"),
        ("postgresql+psycopg://paygate@db.internal/paygate", "postgresql+psycopg"),
        ("sqlite:///var/paygate.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///var/paygate.db", "sqlite+aiosqlite"),
    ],
)
async def test_plain_urls_get_the_async_driver(url: str, driver: str) -> None:
    engine = create_engine(url)
    try:
        assert engine.url.drivername == driver
        assert engine.url.database == make_url(url).database
    finally:
        await engine.dispose()


async def test_drivers_the_gateway_does_not_ship_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database URL"):
        create_engine("mysql://paygate@db.internal/paygate")


async def test_a_rolled_back_sqlite_transaction_takes_its_ddl_with_it(tmp_path: Path) -> None:
    # Migrations rely on it: a migration failing half-way must leave the schema as it was.
    engine = create_engine(f"sqlite:///{tmp_path / 'ddl.db'}")
    try:
        async with engine.connect() as connection:
            await connection.begin()
            await connection.execute(text("CREATE TABLE doomed (id INTEGER)"))
            await connection.rollback()
            tables = await connection.scalars(text("SELECT name FROM sqlite_master WHERE name = 'doomed'"))
            assert tables.all() == []
    finally:
        await engine.dispose()
