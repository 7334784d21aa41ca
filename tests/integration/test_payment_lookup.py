"""Reads outside a transaction (`PaymentLookup`): one SELECT on PostgreSQL, a transaction on SQLite.

Both must give back exactly what the repositories store and read, timestamps in UTC included.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import attrs
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.payment import Payment

from application.ports import PaymentLookup

from adapters.persistence.database import autocommit_pool
from adapters.persistence.payment_lookup import PostgresPaymentLookup, lookup_for
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork

from tests.integration.test_repository_contract import _payment

pytestmark = pytest.mark.anyio


@pytest.fixture
async def lookup(engine: AsyncEngine, database_url: str) -> AsyncIterator[PaymentLookup]:
    async with autocommit_pool(database_url, size=2, timeout=5) as pool:
        yield lookup_for(pool, lambda: SqlAlchemyUnitOfWork(engine))


async def _stored(engine: AsyncEngine, payment: Payment) -> Payment:
    async with SqlAlchemyUnitOfWork(engine) as uow:
        await uow.payments.add(payment)
        await uow.commit()
    async with SqlAlchemyUnitOfWork(engine) as uow:
        read = await uow.payments.get(payment.id)
    assert read is not None
    return read


async def test_postgresql_reads_with_one_statement(database_url: str, lookup: PaymentLookup) -> None:
    assert isinstance(lookup, PostgresPaymentLookup) == database_url.startswith("postgresql")


async def test_each_way_in_finds_the_payment_as_the_repository_reads_it(engine: AsyncEngine, lookup: PaymentLookup) -> None:
    # Every optional field set, timestamps written at +05:00: what comes back is the same instant in UTC.
    payment = _payment(metadata={"order": "1001", "note": "тюльпаны"}, customer_id="c-7", order_id="o-1001")
    expected = attrs.asdict(await _stored(engine, payment), recurse=True)
    assert payment.external_id is not None and payment.idempotency_key is not None

    found = [
        await lookup.get(payment.id),
        await lookup.by_external_id(payment.provider, payment.external_id),
        await lookup.by_idempotency_key(payment.idempotency_key),
    ]

    for read in found:
        assert read is not None
        assert attrs.asdict(read, recurse=True) == expected
        assert read.created_at.utcoffset() == timedelta(0)


async def test_nothing_found_is_none(engine: AsyncEngine, lookup: PaymentLookup) -> None:
    payment = await _stored(engine, _payment())
    assert payment.external_id is not None

    assert await lookup.get("pay_unknown") is None
    assert await lookup.by_external_id("stripe", payment.external_id) is None  # another provider's id
    assert await lookup.by_idempotency_key("idem_unknown") is None


async def test_concurrent_reads_each_get_their_own_payment(engine: AsyncEngine, lookup: PaymentLookup) -> None:
    # On PostgreSQL the reads of one kind that arrive together share one statement: each caller must
    # still get the payment it asked for (or None), and two asking for the same one a copy each.
    stored = [await _stored(engine, _payment(provider=provider)) for provider in ("kaspi", "kaspi", "stripe")]
    expected = [attrs.asdict(p, recurse=True) for p in stored]
    first, unknown = stored[0], ("kaspi", "ext_unknown")
    pairs = [(p.provider, str(p.external_id)) for p in stored] + [unknown, (first.provider, str(first.external_id))]
    keys = [str(p.idempotency_key) for p in stored] + ["idem_unknown", str(first.idempotency_key)]

    reads = [
        await asyncio.gather(*(lookup.get(i) for i in [*(p.id for p in stored), "pay_unknown", first.id])),
        await asyncio.gather(*(lookup.by_external_id(provider, i) for provider, i in pairs)),
        await asyncio.gather(*(lookup.by_idempotency_key(key) for key in keys)),
    ]

    for found in reads:
        assert [None if f is None else attrs.asdict(f, recurse=True) for f in found] == [*expected, None, expected[0]]
        assert found[0] is not found[4]
