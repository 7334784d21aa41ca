"""The create's two writes (`CreationJournal`): one statement each on PostgreSQL, transactions on SQLite.

Both stores must keep the same promises: a used idempotency key is refused, the provider's answer is
written with its audit entry, events and poll check all together, and a compare-and-set that lost
writes nothing at all.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import attrs
import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.audit import AuditEntry, Outcome
from domain.events import Event, EventType
from domain.identifiers import MAX_SHOP_ID
from domain.money import Money
from domain.payment import Payment, PaymentMethod
from domain.polling import PaymentCheck

from application.audit import payment_entry
from application.errors import DuplicateIdempotencyKey, StorageUnavailable
from application.ports import CreationJournal

from adapters.persistence.creation_journal import PostgresCreationJournal, journal_for
from adapters.persistence.database import AutocommitPool, autocommit_pool, create_engine
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _payment(**changes: Any) -> Payment:
    fields: dict[str, Any] = {
        "id": _id("pay"),
        "shop_id": secrets.randbelow(MAX_SHOP_ID) + 1,
        "provider": "kaspi",
        "method": PaymentMethod.REMOTE,
        "amount": Money(500_000, "KZT"),
        "merchant_account": "990140001233",
        "description": "Заказ №1001 — тюльпаны",
        "phone": "77015211545",
        "idempotency_key": _id("idem"),
        "metadata": {"order": "1001"},
        "created_at": T0,
        "updated_at": T0,
    }
    fields.update(changes)
    return Payment(**fields)


def _answered(payment: Payment) -> Payment:
    answered = attrs.evolve(payment)
    answered.record_provider_acceptance(
        external_id=_id("kaspi"), provider_status="Wait", payment_link=None, checkout_url=None,
        client_secret=None, expires_at=T0 + timedelta(minutes=5), at=T0 + timedelta(seconds=1),
    )
    return answered


def _event(payment: Payment, kind: EventType = EventType.PAYMENT_CREATED) -> Event:
    return Event(id=_id("evt"), type=kind, payment_id=payment.id, occurred_at=T0, data={"payment": {"id": payment.id}})


class _Writes(TypedDict):
    """What `record_answer` writes with the payment."""

    entry: AuditEntry
    events: list[Event]
    check: PaymentCheck | None


def _writes(payment: Payment, *events: Event, check: bool = True) -> _Writes:
    return {
        "entry": payment_entry("create", payment, Outcome.SUCCESS, at=T0, actor="backend"),
        "events": list(events),
        "check": PaymentCheck(payment_id=payment.id, next_check_at=T0) if check else None,
    }


@pytest.fixture
async def postgres_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_url, pool_size=1)
    try:
        yield engine
    finally:
        await engine.dispose()


def _uow(engine: AsyncEngine) -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(engine)


@pytest.fixture
async def journal(engine: AsyncEngine, database_url: str) -> AsyncIterator[CreationJournal]:
    async with autocommit_pool(database_url, size=2, timeout=5) as pool:
        yield journal_for(pool, lambda: _uow(engine))


def _fields(payment: Payment | None) -> dict[str, object] | None:
    # Payments compare by identity (entities); a round trip is checked field by field.
    return None if payment is None else attrs.asdict(payment, recurse=True)


async def _stored(
    engine: AsyncEngine, payment: Payment
) -> tuple[dict[str, object] | None, list[Event], PaymentCheck | None, list[str]]:
    async with _uow(engine) as uow:
        stored = _fields(await uow.payments.get(payment.id))
        events = list(await uow.outbox.list_for_payment(payment.id))
        check = await uow.checks.get(payment.id)
        audit = [e.operation_type for e in await uow.audit.list(shop_id=payment.shop_id, limit=10)]
    return stored, events, check, audit


async def test_postgresql_gets_its_one_statement_journal(database_url: str, journal: CreationJournal) -> None:
    assert isinstance(journal, PostgresCreationJournal) == database_url.startswith("postgresql")


async def test_an_opened_payment_reads_back_whole(engine: AsyncEngine, journal: CreationJournal) -> None:
    payment = _payment()
    await journal.open(payment)
    assert (await _stored(engine, payment))[0] == _fields(payment)


async def test_a_used_idempotency_key_is_refused_and_the_first_payment_kept(
    engine: AsyncEngine, journal: CreationJournal
) -> None:
    first = _payment()
    await journal.open(first)
    again = _payment(idempotency_key=first.idempotency_key)
    with pytest.raises(DuplicateIdempotencyKey):
        await journal.open(again)
    assert (await _stored(engine, first))[0] == _fields(first)
    assert (await _stored(engine, again))[0] is None


async def test_payments_without_an_idempotency_key_never_conflict(engine: AsyncEngine, journal: CreationJournal) -> None:
    one, two = _payment(idempotency_key=None), _payment(idempotency_key=None)
    await journal.open(one)
    await journal.open(two)
    assert (await _stored(engine, two))[0] == _fields(two)


async def test_the_answer_is_written_with_its_audit_entry_events_and_check(
    engine: AsyncEngine, journal: CreationJournal
) -> None:
    payment = _payment()
    await journal.open(payment)
    answered = _answered(payment)
    created, settled = _event(answered), _event(answered, EventType.PAYMENT_SUCCEEDED)

    assert await journal.record_answer(answered, payment.version, **_writes(answered, created, settled))

    assert answered.version == payment.version + 1
    stored, events, check, audit = await _stored(engine, payment)
    assert stored == _fields(answered)
    assert [(e.id, e.type, e.sequence) for e in events] == [(created.id, created.type, 1), (settled.id, settled.type, 2)]
    assert events[0].data == created.data
    assert check == PaymentCheck(payment_id=payment.id, next_check_at=T0)
    assert audit == ["create"]


async def test_a_lost_compare_and_set_writes_nothing(engine: AsyncEngine, journal: CreationJournal) -> None:
    payment = _payment()
    await journal.open(payment)
    moved = _answered(payment)
    async with _uow(engine) as uow:  # someone else changed the payment meanwhile
        assert await uow.payments.update(moved, payment.version)
        await uow.commit()
    late = _answered(payment)

    assert not await journal.record_answer(late, payment.version, **_writes(late, _event(late)))

    assert late.version == payment.version
    assert await _stored(engine, payment) == (_fields(moved), [], None, [])


async def test_events_are_numbered_after_the_payments_earlier_ones(engine: AsyncEngine, journal: CreationJournal) -> None:
    payment = _payment()
    await journal.open(payment)
    async with _uow(engine) as uow:
        await uow.outbox.add(_event(payment))
        await uow.commit()
    answered = _answered(payment)

    assert await journal.record_answer(answered, payment.version, **_writes(answered, _event(answered), check=False))

    _, events, check, _ = await _stored(engine, payment)
    assert [e.sequence for e in events] == [1, 2]
    assert check is None


async def test_concurrent_opens_each_get_their_own_answer(engine: AsyncEngine, journal: CreationJournal) -> None:
    # Concurrent creates share a statement on PostgreSQL: of two using one key, exactly one is
    # refused, and every other payment is stored.
    payments = [_payment() for _ in range(12)]
    payments.append(_payment(idempotency_key=payments[3].idempotency_key))

    answers = await asyncio.gather(*(journal.open(payment) for payment in payments), return_exceptions=True)

    same_key = [answers[3], answers[-1]]
    assert sorted(type(answer).__name__ for answer in same_key) == ["DuplicateIdempotencyKey", "NoneType"]
    for payment, answer in zip(payments, answers, strict=True):
        assert (await _stored(engine, payment))[0] == (None if answer else _fields(payment))
    assert [answer for n, answer in enumerate(answers) if n not in (3, 12)] == [None] * 11


async def test_concurrent_answers_are_written_each_with_its_own_records(
    engine: AsyncEngine, journal: CreationJournal
) -> None:
    payments = [_payment() for _ in range(8)]
    for payment in payments:
        await journal.open(payment)
    moved = _answered(payments[5])
    async with _uow(engine) as uow:  # one of them changed by someone else meanwhile
        assert await uow.payments.update(moved, payments[5].version)
        await uow.commit()
    answers = [_answered(payment) for payment in payments]
    events = [_event(answer) for answer in answers]

    won = await asyncio.gather(*(
        journal.record_answer(answer, payment.version, **_writes(answer, event, check=n % 2 == 0))
        for n, (payment, answer, event) in enumerate(zip(payments, answers, events, strict=True))
    ))

    assert won == [n != 5 for n in range(8)]
    for n, (payment, answer, event) in enumerate(zip(payments, answers, events, strict=True)):
        stored, stored_events, check, audit = await _stored(engine, payment)
        if n == 5:
            assert (stored, stored_events, check, audit) == (_fields(moved), [], None, [])
            continue
        assert stored == _fields(answer)
        assert [(e.id, e.sequence) for e in stored_events] == [(event.id, 1)]
        assert check == (PaymentCheck(payment_id=payment.id, next_check_at=T0) if n % 2 == 0 else None)
        assert audit == ["create"]


@pytest.mark.postgres
async def test_a_write_postgresql_refuses_fails_only_its_own_caller(postgres_url: str, postgres_engine: AsyncEngine) -> None:
    # Every value is validated before it gets here; should one slip through, it must not take
    # the other creates of its statement down with it.
    async with autocommit_pool(postgres_url, size=2, timeout=5) as pool:
        journal = journal_for(pool, lambda: _uow(postgres_engine))
        payments = [_payment(), _payment(phone="7" * 40), _payment()]

        answers = await asyncio.gather(*(journal.open(payment) for payment in payments), return_exceptions=True)

    assert answers[0] is None and answers[2] is None
    assert isinstance(answers[1], psycopg.errors.StringDataRightTruncation)
    assert (await _stored(postgres_engine, payments[0]))[0] == _fields(payments[0])
    assert (await _stored(postgres_engine, payments[1]))[0] is None


@pytest.mark.postgres
async def test_a_connection_lost_mid_write_is_a_storage_outage_and_the_next_write_succeeds(
    postgres_url: str, postgres_engine: AsyncEngine
) -> None:
    async with autocommit_pool(postgres_url, size=1, timeout=5, ping_after_idle=3600) as pool:
        assert pool is not None
        journal = PostgresCreationJournal(pool)
        await journal.open(_payment())
        await _kill_the_connection_of(pool, postgres_url)

        with pytest.raises(StorageUnavailable):
            await journal.open(_payment())
        survivor = _payment()
        await journal.open(survivor)
        assert (await _stored(postgres_engine, survivor))[0] == _fields(survivor)


@pytest.mark.postgres
async def test_a_connection_idle_through_a_restart_is_replaced_before_use(
    postgres_url: str, postgres_engine: AsyncEngine
) -> None:
    async with autocommit_pool(postgres_url, size=1, timeout=5, ping_after_idle=0) as pool:
        assert pool is not None
        journal = PostgresCreationJournal(pool)
        await journal.open(_payment())
        await _kill_the_connection_of(pool, postgres_url)

        survivor = _payment()
        await journal.open(survivor)  # the ping finds the dead connection first
        assert (await _stored(postgres_engine, survivor))[0] == _fields(survivor)


@pytest.mark.postgres
async def test_no_free_connection_in_time_is_a_storage_outage(postgres_url: str) -> None:
    async with autocommit_pool(postgres_url, size=1, timeout=0.2) as pool:
        assert pool is not None
        journal = PostgresCreationJournal(pool)
        async with pool.connection():  # the only connection, busy
            with pytest.raises(StorageUnavailable) as outage:
                await journal.open(_payment())
        assert outage.value.reason == "no database connection free in time"


async def _kill_the_connection_of(pool: AutocommitPool, postgres_url: str) -> None:
    """Ends the backend of a one-connection pool's connection, as a PostgreSQL restart would."""
    async with pool.connection() as connection:
        pid = connection.info.backend_pid
    libpq = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.mark.postgres
async def test_a_checkout_cancelled_during_its_ping_gives_the_connection_back(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with autocommit_pool(postgres_url, size=1, timeout=1, ping_after_idle=0) as pool:
        assert pool is not None
        async with pool.connection() as connection:
            pass  # used once: the next checkout pings it first
        pinging = asyncio.Event()
        execute = type(connection).execute

        async def hanging_ping(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            if query == "":
                pinging.set()
                await asyncio.Event().wait()  # a database that does not answer
            return await execute(self, query, *args, **kwargs)

        async def checkout() -> None:
            async with pool.connection():
                pass

        monkeypatch.setattr(type(connection), "execute", hanging_ping)
        client = asyncio.create_task(checkout())
        await pinging.wait()
        client.cancel()  # the client went away
        with pytest.raises(asyncio.CancelledError):
            await client
        monkeypatch.undo()

        # The pool's only connection is back (else this waits a second and raises PoolTimeout).
        async with pool.connection() as again:
            assert await (await again.execute("SELECT 1")).fetchone() == (1,)
