"""Payment history: an order's payments, a customer's payments by cursor, within the caller's reach."""

from __future__ import annotations

import copy

import pytest

from domain.errors import InvalidValue
from domain.money import Money
from domain.payment import Payment, PaymentMethod

from application.list_payments import ListPayments

from tests.fakes import InMemoryDatabase
from tests.support.core import InMemoryGateway
from tests.unit.conftest import START

pytestmark = pytest.mark.anyio

SHOP, OTHER_SHOP = 121038, 576631


def seed(db: InMemoryDatabase, number: int, *, shop_id: int = SHOP, order_id: str | None = None, customer_id: str | None = None) -> str:
    payment = Payment(
        id=f"pay_{number:04d}",  # time-ordered like the real ULIDs
        shop_id=shop_id,
        provider="kaspi",
        method=PaymentMethod.REMOTE,
        amount=Money(1000 * number, "KZT"),
        merchant_account="920317450731",
        description="",
        created_at=START,
        updated_at=START,
        order_id=order_id,
        customer_id=customer_id,
    )
    db.payments[payment.id] = copy.deepcopy(payment)
    return payment.id


@pytest.fixture
def db(empty_gateway: InMemoryGateway) -> InMemoryDatabase:
    return empty_gateway.db


@pytest.fixture
def listing(empty_gateway: InMemoryGateway) -> ListPayments:
    return empty_gateway.container.list_payments()


async def test_a_customers_history_comes_page_by_page_newest_first(db: InMemoryDatabase, listing: ListPayments) -> None:
    ids = [seed(db, n, customer_id="cust-7") for n in range(1, 6)]
    seed(db, 9, customer_id="someone-else")

    first = await listing.for_customer("cust-7", limit=2)
    second = await listing.for_customer("cust-7", cursor=first.next_cursor, limit=2)
    last = await listing.for_customer("cust-7", cursor=second.next_cursor, limit=2)

    assert [p.id for p in first.payments] == [ids[4], ids[3]]
    assert [p.id for p in second.payments] == ["pay_0003", "pay_0002"]
    assert ([p.id for p in last.payments], last.next_cursor) == (["pay_0001"], None)


async def test_a_page_that_ends_exactly_at_the_last_payment_says_there_is_no_more(
    db: InMemoryDatabase, listing: ListPayments
) -> None:
    for n in range(1, 3):
        seed(db, n, customer_id="cust-7")

    page = await listing.for_customer("cust-7", limit=2)

    assert (len(page.payments), page.next_cursor) == (2, None)


async def test_a_restricted_caller_sees_only_its_shops(db: InMemoryDatabase, listing: ListPayments) -> None:
    mine = seed(db, 1, customer_id="cust-7", order_id="A-1")
    seed(db, 2, shop_id=OTHER_SHOP, customer_id="cust-7", order_id="A-1")

    page = await listing.for_customer("cust-7", shops={SHOP})
    order = await listing.for_order("A-1", shops={SHOP})

    assert [p.id for p in page.payments] == [mine]
    assert [p.id for p in order] == [mine]
    assert len(await listing.for_order("A-1")) == 2


@pytest.mark.parametrize("limit", [0, 101, -1])
async def test_a_limit_outside_1_to_100_is_refused(listing: ListPayments, limit: int) -> None:
    with pytest.raises(InvalidValue) as refused:
        await listing.for_customer("cust-7", limit=limit)

    assert refused.value.field == "limit"


@pytest.mark.parametrize(
    ("customer_id", "cursor", "field"),
    [("", None, "customer_id"), ("x" * 129, None, "customer_id"), ("cust-7", "\x00", "cursor"), ("cust-7", "p" * 65, "cursor")],
)
async def test_malformed_references_are_refused(
    listing: ListPayments, customer_id: str, cursor: str | None, field: str
) -> None:
    with pytest.raises(InvalidValue) as refused:
        await listing.for_customer(customer_id, cursor=cursor)

    assert refused.value.field == field
