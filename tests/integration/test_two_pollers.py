"""Several pollers on one PostgreSQL: each due payment checked exactly once per round, leases that run out."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from dependency_injector import providers
from sqlalchemy import select

from domain.money import Money
from domain.payment import Payment, PaymentMethod
from domain.polling import PaymentCheck

from application.manage_routes import RouteSpec

from adapters.persistence import tables
from adapters.persistence.migrate import upgrade

from config.container import Container, build_container, close_resources, open_resources
from config.settings import Settings

from tests.fakes import FixedClock
from tests.support.servers import KaspiSimulatorServer

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

PENDING_PAYMENTS = 1200
SHOP, BIN = 121038, "920317450731"
DEVICE_TOKEN = "8c7d1bd4-1d64-4bd1-9f3c-2c2c3b0f5a11"
ON_POSTGRES = pytest.mark.parametrize("unmigrated_database_url", ["postgres"], indirect=True)


@pytest.fixture
def settings(unmigrated_database_url: str, kaspi_simulator: KaspiSimulatorServer, tmp_path: Path) -> Iterator[Settings]:
    asyncio.run(upgrade(unmigrated_database_url))
    yield Settings(
        database_url=unmigrated_database_url,
        kaspi_proxy_url=kaspi_simulator.base_url,
        kaspi_access_token=kaspi_simulator.access_token,
        kaspi_rate_limit_per_second=100_000,
        poll_batch_size=25,
        poll_concurrency=16,
        secrets_key_file=str(tmp_path / "secrets.key"),
    )


@asynccontextmanager
async def poller(settings: Settings, clock: FixedClock | None = None) -> AsyncIterator[Container]:
    """One poller process's worth of objects: its own engine, HTTP client and token bucket."""
    container = build_container(settings)
    if clock is not None:
        container.clock.override(providers.Object(clock))
    await open_resources(container)
    try:
        yield container
    finally:
        await close_resources(container)


async def seed(container: Container, simulator: KaspiSimulatorServer, count: int, *, at: datetime) -> list[Payment]:
    """`count` bills waiting in Kaspi, each a pending payment with a check due now."""
    await container.manage_routes().add(
        RouteSpec(shop_id=SHOP, provider="kaspi", merchant_account=BIN, credentials={"device_token": DEVICE_TOKEN})
    )
    payments = []
    for n in range(count):
        bill = simulator.state.create(
            kind="remote", organization_bin=BIN, device_token=DEVICE_TOKEN, amount=Decimal(5000),
            message=f"order {n}", phone="77015211545",
        )
        payments.append(
            Payment(
                id=f"pay_{n:06d}", shop_id=SHOP, provider="kaspi", method=PaymentMethod.REMOTE,
                amount=Money(500000, "KZT"), merchant_account=BIN, description=f"order {n}",
                external_id=bill.external_id, provider_status="Wait", created_at=at, updated_at=at,
                expires_at=at + timedelta(hours=24),
            )
        )
    async with container.uow()() as uow:
        for payment in payments:
            await uow.payments.add(payment)
            await uow.checks.add(PaymentCheck(payment.id, next_check_at=at))
        await uow.commit()
    return payments


@ON_POSTGRES
async def test_two_pollers_check_every_pending_payment_exactly_once_per_round(
    settings: Settings, kaspi_simulator: KaspiSimulatorServer
) -> None:
    now = datetime.now(UTC)
    async with poller(settings) as first, poller(settings) as second:
        payments = await seed(first, kaspi_simulator, PENDING_PAYMENTS, at=now - timedelta(hours=2))
        paid = {p.external_id for p in payments[::3]}
        for external_id in paid:
            assert external_id is not None
            kaspi_simulator.state.approve(external_id)

        one, other = await asyncio.gather(first.poll_payments().sweep(), second.poll_payments().sweep())
        asked = Counter(r.params["externalId"] for r in kaspi_simulator.state.requests if r.operation == "status")
        next_round = await asyncio.gather(first.poll_payments().sweep(), second.poll_payments().sweep())

        async with first.engine().connect() as connection:
            statuses = dict((await connection.execute(select(tables.payments.c.id, tables.payments.c.status))).all())
            checks = {row.payment_id: row for row in await connection.execute(select(tables.payment_checks))}
            events = Counter(
                (row.payment_id, row.type) for row in await connection.execute(select(tables.outbox_events))
            )

    assert one.checked > 0 and other.checked > 0  # both pollers did part of the round
    assert one.checked + other.checked == PENDING_PAYMENTS
    assert one.errors == other.errors == 0
    assert asked == Counter({p.external_id: 1 for p in payments})  # every payment once, none twice
    assert one.changed + other.changed == len(paid)
    assert [s.checked for s in next_round] == [0, 0]  # rescheduled by the back-off: not due again yet
    for payment in payments:
        settled = payment.external_id in paid
        assert statuses[payment.id] == ("succeeded" if settled else "pending")
        assert events[(payment.id, "payment.succeeded")] == (1 if settled else 0)
        check = checks.get(payment.id)
        if settled:
            assert check is None
        else:
            assert check is not None and check.attempts == 1 and check.leased_until is None
            assert check.next_check_at > now
    assert sum(events.values()) == len(paid)


@ON_POSTGRES
async def test_a_crashed_pollers_checks_are_taken_over_once_its_lease_runs_out(
    settings: Settings, kaspi_simulator: KaspiSimulatorServer
) -> None:
    clock = FixedClock(datetime.now(UTC))
    async with poller(settings, clock) as survivor:
        payments = await seed(survivor, kaspi_simulator, 30, at=clock.now())
        async with survivor.uow()() as uow:  # a poller claims ten, then dies before asking
            crashed = await uow.checks.claim_due(
                due_by=clock.now(), now=clock.now(), lease_until=clock.now() + timedelta(minutes=5), limit=10
            )
            await uow.commit()

        meanwhile = await survivor.poll_payments().sweep()
        clock.advance(timedelta(minutes=5))
        taken_over = await survivor.poll_payments().sweep()

    asked = Counter(r.params["externalId"] for r in kaspi_simulator.state.requests if r.operation == "status")
    crashed_ids = {c.payment_id for c in crashed}
    assert meanwhile.checked == 20
    assert taken_over.checked == 30  # the ten orphans, and the twenty now due again
    assert all(asked[str(p.external_id)] == (1 if p.id in crashed_ids else 2) for p in payments)
