"""The console's reads on SQLite and PostgreSQL: the settlement report's sums (exact integers,
several currencies, refunds on a later day), the payment search, and a payment's audit entries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.audit import AuditEntry, Outcome
from domain.money import MAX_MINOR_UNITS, Money
from domain.payment import Payment, PaymentStatus
from domain.refund import Refund, RefundStatus

from application.ports import PaymentSearch
from application.settlement_report import SettlementRow

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork

from config.container import Container, build_container, close_resources, open_resources
from config.settings import Settings

from tests.integration.test_repository_contract import _id, _payment, _shop_id

pytestmark = pytest.mark.anyio

# 20:00 UTC is 01:00 the next day in Almaty (UTC+5): the report's days are Almaty's.
DEC_1_LATE_UTC = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)


@pytest.fixture
async def core(database_url: str) -> AsyncIterator[Container]:
    """The container on each backend in turn, its resources open: the console's reads as the pages get them."""
    container = build_container(Settings(database_url=database_url, report_timezone="Asia/Almaty"))
    await open_resources(container)
    try:
        yield container
    finally:
        await close_resources(container)


def _paid(shop: int, minor: int, currency: str, at: datetime, *, provider: str = "kaspi", **changes: Any) -> Payment:
    return _payment(
        shop_id=shop, provider=provider, amount=Money(minor, currency), refunded=Money(0, currency),
        refund_reserved=Money(0, currency), status=PaymentStatus.SUCCEEDED, succeeded_at=at, error_code=None,
        error_message=None, **changes,
    )


def _refund(payment: Payment, minor: int, at: datetime, status: RefundStatus = RefundStatus.SUCCEEDED) -> Refund:
    return Refund(
        id=_id("re"), payment_id=payment.id, shop_id=payment.shop_id, amount=Money(minor, payment.amount.currency),
        created_at=at - timedelta(minutes=1), updated_at=at, status=status,
        status_observed_at=at if status is not RefundStatus.PENDING else None,
    )


async def _store(engine: AsyncEngine, payments: Iterable[Payment], refunds: Iterable[Refund] = ()) -> None:
    async with SqlAlchemyUnitOfWork(engine) as uow:
        for payment in payments:
            await uow.payments.add(payment)
        for refund in refunds:
            await uow.refunds.add(refund)
        await uow.commit()


async def test_settlements_sum_exactly_per_day_provider_and_currency(core: Container) -> None:
    shop, other = _shop_id(), _shop_id()
    big = _paid(shop, MAX_MINOR_UNITS, "KZT", DEC_1_LATE_UTC)  # the largest amount: sums must stay exact
    small = _paid(shop, 250_050, "KZT", datetime(2026, 12, 2, 3, 0, tzinfo=UTC))
    dollars = _paid(shop, 1_999, "USD", datetime(2026, 12, 2, 4, 0, tzinfo=UTC), provider="stripe")
    before = _paid(shop, 777, "KZT", datetime(2026, 12, 1, 18, 59, tzinfo=UTC))  # 23:59 on Dec 1 in Almaty
    failed = _payment(shop_id=shop, status=PaymentStatus.FAILED, created_at=DEC_1_LATE_UTC)
    elsewhere = _paid(other, 100, "KZT", DEC_1_LATE_UTC)
    later = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
    refunds = [
        _refund(big, 300_000, later), _refund(big, 3, later), _refund(small, 50, later, RefundStatus.PENDING),
        _refund(dollars, 1_999, later, RefundStatus.FAILED),
    ]
    await _store(core.engine(), [big, small, dollars, before, failed, elsewhere], refunds)
    report = core.settlement_report()

    rows = await report.execute(first=date(2026, 12, 2), last=date(2026, 12, 4), shop_id=shop)
    reached = await report.execute(first=date(2026, 12, 2), last=date(2026, 12, 2), shops=[other])
    beyond = await report.execute(first=date(2026, 12, 2), last=date(2026, 12, 2), shop_id=shop, shops=[other])

    assert rows == [
        SettlementRow(shop, date(2026, 12, 2), "kaspi", "KZT", 2, MAX_MINOR_UNITS + 250_050, 0, 0),
        SettlementRow(shop, date(2026, 12, 2), "stripe", "USD", 1, 1_999, 0, 0),
        SettlementRow(shop, date(2026, 12, 4), "kaspi", "KZT", 0, 0, 2, 300_003),
    ]
    assert rows[2].net == -300_003 and rows[0].net == MAX_MINOR_UNITS + 250_050
    assert [(r.shop_id, r.paid) for r in reached] == [(other, 100)]
    assert beyond == []


async def test_the_search_finds_a_payment_by_any_of_its_ids_within_the_reach(core: Container) -> None:
    shop, other = _shop_id(), _shop_id()
    payment = _payment(shop_id=shop, order_id=_id("order"), customer_id=_id("cust"))
    theirs = _payment(shop_id=other, order_id=payment.order_id)
    await _store(core.engine(), [payment, theirs])
    search = core.search_payments()

    for text in (payment.id, payment.external_id, payment.order_id, payment.customer_id):
        page = await search.page(PaymentSearch(text=text), shops=[shop])
        assert [p.id for p in page.payments] == [payment.id], text
    both = await search.page(PaymentSearch(text=payment.order_id), shops=None)
    narrowed = await search.page(PaymentSearch(text=payment.order_id, shop_id=other, provider="kaspi"), shops=None)
    assert {p.id for p in both.payments} == {payment.id, theirs.id}
    assert [p.id for p in narrowed.payments] == [theirs.id]


async def test_the_search_pages_newest_first_and_filters_by_status_and_day(core: Container) -> None:
    shop = _shop_id()
    start = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    stored = [
        _payment(shop_id=shop, id=f"pay_{start.timestamp():.0f}_{n:02d}_{_id('x')[-6:]}", created_at=start + timedelta(days=n))
        for n in range(3)
    ]
    await _store(core.engine(), stored)
    search = core.search_payments()

    first = await search.page(PaymentSearch(shop_id=shop), shops=None, limit=2)
    second = await search.page(PaymentSearch(shop_id=shop, before_id=first.next_cursor), shops=None, limit=2)
    one_day = await search.page(
        PaymentSearch(shop_id=shop, created_from=start + timedelta(days=1), created_before=start + timedelta(days=1, hours=1)),
        shops=None,
    )
    none_failed = await search.page(PaymentSearch(shop_id=shop, status="failed"), shops=None)

    assert [p.id for p in first.payments] == [stored[2].id, stored[1].id] and first.next_cursor == stored[1].id
    assert [p.id for p in second.payments] == [stored[0].id] and second.next_cursor is None
    assert [p.id for p in one_day.payments] == [stored[1].id] and none_failed.payments == []


async def test_the_attention_filters_find_lost_answers_and_overdue_payments(core: Container) -> None:
    shop = _shop_id()
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    lost = _payment(
        shop_id=shop, status=PaymentStatus.PENDING, error_code="provider_outcome_unknown", expires_at=now + timedelta(hours=1)
    )
    overdue = _payment(shop_id=shop, status=PaymentStatus.PENDING, error_code=None, expires_at=now - timedelta(hours=1))
    refunded = _paid(shop, 1_000, "KZT", now)
    lost_refund = _refund(refunded, 500, now, RefundStatus.PENDING)
    lost_refund.error_code = "provider_outcome_unknown"
    await _store(core.engine(), [lost, overdue, refunded], [lost_refund])
    search = core.search_payments()

    async def found(**flags: Any) -> list[str]:
        return [p.id for p in (await search.page(PaymentSearch(shop_id=shop, **flags), shops=None)).payments]

    assert await found(outcome_unknown=True) == [lost.id]
    assert await found(refund_outcome_unknown=True) == [refunded.id]
    assert await found(expired_before=now) == [overdue.id]


async def test_a_payment_s_audit_entries_come_back_oldest_first_with_a_refund_reason(engine: AsyncEngine) -> None:
    payment = _payment()
    entries = [
        AuditEntry("create", Outcome.SUCCESS, datetime(2026, 12, 1, tzinfo=UTC), payment_id=payment.id),
        AuditEntry("refund_reason", Outcome.SUCCESS, datetime(2026, 12, 2, tzinfo=UTC), payment_id=payment.id, reason="брак"),
        AuditEntry("create", Outcome.SUCCESS, datetime(2026, 12, 2, tzinfo=UTC), payment_id=_id("pay")),
    ]
    async with SqlAlchemyUnitOfWork(engine) as uow:
        for entry in entries:
            await uow.audit.append(entry)
        await uow.commit()
    async with SqlAlchemyUnitOfWork(engine) as uow:
        found = await uow.audit.list_for_payment(payment.id)
    assert [(e.operation_type, e.reason) for e in found] == [("create", None), ("refund_reason", "брак")]
