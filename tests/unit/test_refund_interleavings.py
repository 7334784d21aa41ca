"""Concurrent refunds of one payment, in every interleaving hypothesis can find: never more back than paid.

The refund use case runs as several tasks. Each stops at every scheduling point: before each
transaction it opens (PostgreSQL serialises the row-locked transactions of one payment, so a
transaction is the unit of interleaving) and before each provider answer. At each step hypothesis
picks which stopped task goes on, and what each provider call answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Self

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.errors import DomainError, PaymentNotRefundable, RefundExceedsRemaining
from domain.money import Money
from domain.payment import PaymentStatus
from domain.refund import RefundStatus

from application.errors import (
    ApplicationError,
    ConcurrentUpdate,
    DuplicateIdempotencyKey,
    OperationInProgress,
    PaymentDeclined,
    ProviderDeclined,
    ProviderOutcomeUnknown,
    ProviderUnavailable,
)
from application.ports import ProviderRefund, RefundRequest
from application.refund_payment import RefundCommand, RefundResult

from tests.fakes import FakeProvider
from tests.fakes.database import InMemoryDatabase, InMemoryUnitOfWork
from tests.support.core import InMemoryGateway
from tests.unit.conftest import SHOP, SHOP_BIN, START

PAID = 10_000  # tiyn
ANSWERS: dict[str, Callable[[], ProviderRefund | Exception]] = {
    "ok": lambda: ProviderRefund("9001"),
    "declined": lambda: ProviderDeclined("-99000005", "Refund amount exceeds the purchase amount"),
    "unknown": lambda: ProviderUnavailable("kaspi refund: no answer within 15 s", timed_out=True),
}
# What a caller may legitimately be told; anything else (ConcurrentUpdate, a broken invariant) fails.
REFUSALS = (
    RefundExceedsRemaining,
    PaymentNotRefundable,
    PaymentDeclined,
    ProviderOutcomeUnknown,
    DuplicateIdempotencyKey,
    OperationInProgress,  # the same key while its first request is still out
)


class Scheduler:
    """Lets one managed task run at a time, from one scheduling point to the next; `choose` picks which."""

    def __init__(self, choose: Callable[[Sequence[int]], int]) -> None:
        self._choose = choose
        self._tasks: list[asyncio.Task[Any]] = []
        self._parked: dict[asyncio.Task[Any], asyncio.Event] = {}
        self._changed = asyncio.Event()

    async def point(self, *_ignored: object) -> None:
        task = asyncio.current_task()
        if task not in self._tasks:
            return  # the test's own setup runs straight through
        go = asyncio.Event()
        self._parked[task] = go
        self._changed.set()
        await go.wait()

    async def run(self, work: Sequence[Awaitable[Any]]) -> list[Any]:
        self._tasks = [asyncio.ensure_future(w) for w in work]
        for task in self._tasks:
            task.add_done_callback(lambda _task: self._changed.set())
        async with asyncio.timeout(10):  # a deadlock fails the example instead of hanging the suite
            while True:
                # No await between the check and the wait: nothing can park unseen in between.
                while not all(t.done() or t in self._parked for t in self._tasks):
                    self._changed.clear()
                    await self._changed.wait()
                parked = [i for i, t in enumerate(self._tasks) if t in self._parked]
                if not parked:
                    break
                self._parked.pop(self._tasks[self._choose(parked)]).set()
        return [t.exception() or t.result() for t in self._tasks]


class AnsweringProvider(FakeProvider):
    """The fake provider, remembering which answer each refund request got (in any order of calls)."""

    def __init__(self) -> None:
        super().__init__("kaspi")
        self.answered: list[tuple[RefundRequest, str]] = []

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        try:
            answer = await super().refund(request)
        except ProviderDeclined:
            self.answered.append((request, "declined"))
            raise
        except ProviderUnavailable:
            self.answered.append((request, "unknown"))
            raise
        self.answered.append((request, "ok"))
        return answer


class ScheduledUnitOfWork(InMemoryUnitOfWork):
    """The fake's unit of work, with a scheduling point before its transaction begins."""

    def __init__(self, db: InMemoryDatabase, scheduler: Scheduler) -> None:
        super().__init__(db)
        self._scheduler = scheduler

    async def __aenter__(self) -> Self:
        await self._scheduler.point()
        return await super().__aenter__()


refund_requests = st.lists(
    st.tuples(
        st.one_of(st.none(), st.sampled_from([1, 2_500, 3_333, 5_000, 7_500, PAID])),  # None: all that is left
        st.sampled_from([None, "key-a", "key-b"]),  # retries share an idempotency key
    ),
    min_size=2,
    max_size=5,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests=refund_requests, answers=st.lists(st.sampled_from(sorted(ANSWERS)), min_size=5, max_size=5), data=st.data())
def test_no_interleaving_of_concurrent_refunds_gives_back_more_than_was_paid(
    requests: list[tuple[int | None, str | None]], answers: list[str], data: st.DataObject
) -> None:
    async def scenario() -> None:
        gateway = InMemoryGateway(now=START)
        gateway.seed_route(SHOP, SHOP_BIN)
        payment = gateway.seed_payment(SHOP, amount=Money(PAID, "KZT"))
        scheduler = Scheduler(lambda parked: data.draw(st.sampled_from(parked), label="next to run"))

        def uow() -> ScheduledUnitOfWork:
            return ScheduledUnitOfWork(gateway.db, scheduler)

        provider = AnsweringProvider()
        gateway.override(gateway.container.uow, uow)
        gateway.override(gateway.container.kaspi.adapter, provider)
        refund = gateway.refund
        provider.observers.append(scheduler.point)
        provider.will_refund(*(ANSWERS[a]() for a in answers))

        async def one(amount: int | None, key: str | None) -> RefundResult | Exception:
            command = RefundCommand(
                shop_id=SHOP, provider="kaspi", external_id=payment.external_id,
                amount=None if amount is None else Money(amount, "KZT"), idempotency_key=key,
            )
            try:
                return await refund.execute(command)
            except (ApplicationError, DomainError) as refusal:
                return refusal

        outcomes = await scheduler.run([one(amount, key) for amount, key in requests])

        unexpected = [o for o in outcomes if isinstance(o, Exception) and not isinstance(o, REFUSALS)]
        assert unexpected == [], unexpected
        assert not any(isinstance(o, ConcurrentUpdate) for o in outcomes)
        stored = gateway.db.payment(payment.id)
        refunds = gateway.db.refunds_of(payment.id)
        succeeded = sum(r.amount.minor for r in refunds if r.status is RefundStatus.SUCCEEDED)
        in_flight = sum(r.amount.minor for r in refunds if r.status is RefundStatus.PENDING)
        # The books: what the payment says matches its refunds, and never exceeds what was paid.
        assert (stored.refunded, stored.refund_reserved) == (Money(succeeded, "KZT"), Money(in_flight, "KZT"))
        assert succeeded + in_flight <= PAID
        assert (stored.status is PaymentStatus.REFUNDED) == (succeeded == PAID)
        # The money: what the provider was asked to give back and did not refuse stays within the paid sum.
        sent = provider.refund_requests
        assert sum(r.amount.minor for r, answer in provider.answered if answer != "declined") <= PAID
        # Each refund row went to the provider exactly once, and every provider request has its row.
        assert sorted(r.refund_id for r in sent) == sorted(r.id for r in refunds)
        # Requests sharing a key got the same refund, never a second one.
        by_key: dict[str, set[str]] = {}
        for (_amount, key), outcome in zip(requests, outcomes, strict=True):
            if key is not None and isinstance(outcome, RefundResult):
                by_key.setdefault(key, set()).add(outcome.refund.id)
        assert all(len(ids) == 1 for ids in by_key.values()), by_key

    anyio.run(scenario)
