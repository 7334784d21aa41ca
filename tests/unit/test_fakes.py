"""The fakes keep the contract of the real adapters, or tests on them would prove nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from domain.audit import AuditEntry, Outcome
from domain.money import Money
from domain.payment import Payment, PaymentMethod, PaymentStatus
from domain.refund import Refund
from domain.seller_route import Credentials, SellerRoute

from application.errors import ConcurrentUpdate, DuplicateIdempotencyKey, ProviderUnavailable, RouteAlreadyExists
from application.ports import IdempotencyState, ProviderPayment, StoredResponse

from tests.fakes import (
    FakeProvider,
    FixedClock,
    InMemoryDatabase,
    InMemoryIdempotencyStore,
    IntegrityViolation,
    SequentialIds,
)

AT = datetime(2025, 10, 22, 12, 0, tzinfo=UTC)


def a_payment(payment_id: str = "pay_1", key: str | None = None) -> Payment:
    return Payment(
        id=payment_id, shop_id=8, provider="kaspi", method=PaymentMethod.LINK, amount=Money(100, "KZT"),
        merchant_account="891027350515", description="", created_at=AT, updated_at=AT, idempotency_key=key,
    )


def a_route(shop_id: int = 8) -> SellerRoute:
    return SellerRoute(
        shop_id=shop_id, provider="kaspi", merchant_account="891027350515", credentials=Credentials({}),
        is_active=True, created_at=AT, updated_at=AT,
    )


@pytest.mark.anyio
async def test_a_commit_makes_changes_visible_and_leaving_without_one_discards_them() -> None:
    db = InMemoryDatabase()
    async with db.unit_of_work() as uow:
        await uow.payments.add(a_payment("pay_1"))
        await uow.audit.append(AuditEntry("create", Outcome.SUCCESS, AT))
        await uow.commit()
    async with db.unit_of_work() as uow:
        await uow.payments.add(a_payment("pay_2"))
        await uow.audit.append(AuditEntry("create", Outcome.SUCCESS, AT))
    assert list(db.payments) == ["pay_1"]
    assert [entry.id for entry in db.audit] == [1]


@pytest.mark.anyio
async def test_an_exception_inside_the_unit_of_work_rolls_it_back() -> None:
    db = InMemoryDatabase()
    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as uow:
            await uow.payments.add(a_payment())
            raise RuntimeError("boom")
    assert db.payments == {}


@pytest.mark.anyio
async def test_mutating_a_loaded_payment_without_a_committed_update_leaks_nothing() -> None:
    db = InMemoryDatabase()
    payment = a_payment()
    async with db.unit_of_work() as uow:
        await uow.payments.add(payment)
        await uow.commit()
    payment.status = PaymentStatus.FAILED  # the caller's object is not the stored row
    async with db.unit_of_work() as uow:
        loaded = await uow.payments.get("pay_1")
        assert loaded is not None
        loaded.status = PaymentStatus.SUCCEEDED
        assert await uow.payments.update(loaded, loaded.version)
    assert db.payment("pay_1").status is PaymentStatus.PENDING


@pytest.mark.anyio
async def test_update_is_a_compare_and_set_on_the_version() -> None:
    db = InMemoryDatabase()
    async with db.unit_of_work() as uow:
        await uow.payments.add(a_payment())
        await uow.commit()
    async with db.unit_of_work() as uow:
        payment = await uow.payments.get("pay_1")
        assert payment is not None
        payment.description = "changed"
        assert await uow.payments.update(payment, 1) is True
        assert payment.version == 2
        stale = await uow.payments.get("pay_1")
        assert stale is not None
        stale.description = "stale"
        assert await uow.payments.update(stale, 1) is False
        assert stale.version == 2  # the loaded copy already carried version 2; nothing changed it
        await uow.commit()
    assert (db.payment("pay_1").description, db.payment("pay_1").version) == ("changed", 2)


@pytest.mark.anyio
async def test_a_lost_update_between_two_transactions_is_refused_at_commit() -> None:
    db = InMemoryDatabase()
    async with db.unit_of_work() as uow:
        await uow.payments.add(a_payment())
        await uow.commit()
    first, second = db.unit_of_work(), db.unit_of_work()
    async with first, second:
        a = await first.payments.get("pay_1")
        b = await second.payments.get("pay_1")
        assert a is not None and b is not None
        assert await first.payments.update(a, 1)
        assert await second.payments.update(b, 1)
        await first.commit()
        with pytest.raises(ConcurrentUpdate):
            await second.commit()
    assert db.payment("pay_1").version == 2


@pytest.mark.anyio
async def test_a_second_payment_or_refund_with_the_same_idempotency_key_is_refused() -> None:
    db = InMemoryDatabase()
    async with db.unit_of_work() as uow:
        await uow.payments.add(a_payment("pay_1", key="k"))
        await uow.refunds.add(Refund("re_1", "pay_1", 8, Money(1, "KZT"), AT, AT, idempotency_key="r"))
        await uow.commit()
    async with db.unit_of_work() as uow:
        with pytest.raises(DuplicateIdempotencyKey):
            await uow.payments.add(a_payment("pay_2", key="k"))
        with pytest.raises(DuplicateIdempotencyKey):
            await uow.refunds.add(Refund("re_2", "pay_1", 8, Money(1, "KZT"), AT, AT, idempotency_key="r"))


@pytest.mark.anyio
async def test_a_second_route_for_the_same_shop_and_provider_is_refused() -> None:
    db = InMemoryDatabase()
    async with db.unit_of_work() as uow:
        await uow.routes.add(a_route())
        with pytest.raises(RouteAlreadyExists):
            await uow.routes.add(a_route())


@pytest.mark.anyio
async def test_the_idempotency_store_claims_replays_and_detects_mismatches() -> None:
    store = InMemoryIdempotencyStore()
    assert (await store.claim("k", "f1", AT)).state is IdempotencyState.STARTED
    assert (await store.claim("k", "f1", AT)).state is IdempotencyState.IN_PROGRESS
    assert (await store.claim("k", "f2", AT)).state is IdempotencyState.MISMATCH
    await store.complete("k", StoredResponse(201, b"{}"), AT)
    replay = await store.claim("k", "f1", AT)
    assert (replay.state, replay.response) == (IdempotencyState.REPLAY, StoredResponse(201, b"{}"))
    await store.release("k")  # a finished response is never forgotten
    assert (await store.claim("k", "f1", AT)).state is IdempotencyState.REPLAY


@pytest.mark.anyio
async def test_a_released_or_stale_idempotency_claim_can_be_claimed_again() -> None:
    store = InMemoryIdempotencyStore(stale_after=timedelta(minutes=2))
    await store.claim("released", "f1", AT)
    await store.release("released")
    assert (await store.claim("released", "f2", AT)).state is IdempotencyState.STARTED
    await store.claim("stale", "f1", AT)
    assert (await store.claim("stale", "f1", AT + timedelta(minutes=2))).state is IdempotencyState.STARTED
    assert (await store.claim("stale", "f1", AT + timedelta(minutes=3))).state is IdempotencyState.IN_PROGRESS


@pytest.mark.anyio
async def test_rows_the_real_schema_would_refuse_are_refused() -> None:
    db = InMemoryDatabase()
    async with db.unit_of_work() as uow:
        with pytest.raises(IntegrityViolation, match="beyond the paid amount"):
            over = attrs.evolve(a_payment(), refunded=Money(60, "KZT"), refund_reserved=Money(41, "KZT"))
            await uow.payments.add(over)
        with pytest.raises(IntegrityViolation, match="naive"):
            await uow.payments.add(attrs.evolve(a_payment(), created_at=datetime(2025, 1, 1)))  # noqa: DTZ001
        await uow.payments.add(attrs.evolve(a_payment("pay_1"), external_id="1"))
        with pytest.raises(IntegrityViolation, match="stored twice"):
            await uow.payments.add(attrs.evolve(a_payment("pay_2"), external_id="1"))
        await uow.refunds.add(Refund("re_1", "pay_missing", 8, Money(1, "KZT"), AT, AT))
        with pytest.raises(IntegrityViolation, match="unknown payment"):
            await uow.commit()
    assert db.payments == {} and db.refunds == {}


@pytest.mark.anyio
async def test_the_fake_provider_answers_in_order_and_refuses_unscripted_calls() -> None:
    provider = FakeProvider()
    answer = ProviderPayment("1", "Processed", PaymentStatus.SUCCEEDED)
    provider.will_fetch(ProviderUnavailable("timeout", timed_out=True), answer)
    with pytest.raises(ProviderUnavailable):
        await provider.fetch_payment(a_route(), "1")
    assert await provider.fetch_payment(a_route(), "1") == answer
    with pytest.raises(AssertionError, match="unexpected fetch"):
        await provider.fetch_payment(a_route(), "1")
    assert [external_id for _, external_id in provider.fetch_requests] == ["1", "1", "1"]


def test_the_clock_moves_only_when_told_and_ids_count_up() -> None:
    clock, ids = FixedClock(AT), SequentialIds()
    assert clock.now() == AT
    clock.set(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.now().year == 2026
    assert [ids.new_id("pay"), ids.new_id("re")] == ["pay_000001", "re_000002"]
    with pytest.raises(ValueError):
        FixedClock(datetime(2025, 1, 1))  # noqa: DTZ001 - the point of the test
