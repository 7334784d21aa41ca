"""A scriptable payment provider: each operation answers from its own queue and records its requests."""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from application.ports import PaymentRequest, ProviderPayment, ProviderRefund, RefundRequest
from domain.seller_route import SellerRoute

T = TypeVar("T")
KASPI_LIFETIME = timedelta(hours=24)
# Called during every provider call, before it answers, with the operation and its request: lets a
# test look at the world mid-call, or act in it (a concurrent request, a webhook) while the call is out.
Observer = Callable[[str, object], Awaitable[None] | None]


class FakeProvider:
    """Answers each call with the next scripted answer of its operation, raising it if it is an exception.

    A call with nothing scripted fails the test: an unexpected call to a real provider could move money.
    """

    def __init__(self, name: str = "kaspi", *, payment_lifetime: timedelta = KASPI_LIFETIME) -> None:
        self.name = name
        self.payment_lifetime = payment_lifetime
        self.create_requests: list[PaymentRequest] = []
        self.fetch_requests: list[tuple[SellerRoute, str]] = []
        self.refund_requests: list[RefundRequest] = []
        self.observers: list[Observer] = []
        self._creates: deque[ProviderPayment | Exception] = deque()
        self._fetches: deque[ProviderPayment | Exception] = deque()
        self._refunds: deque[ProviderRefund | Exception] = deque()

    def will_create(self, *answers: ProviderPayment | Exception) -> None:
        self._creates.extend(answers)

    def will_fetch(self, *answers: ProviderPayment | Exception) -> None:
        self._fetches.extend(answers)

    def will_refund(self, *answers: ProviderRefund | Exception) -> None:
        self._refunds.extend(answers)

    def unused_answers(self) -> int:
        return len(self._creates) + len(self._fetches) + len(self._refunds)

    async def create_payment(self, request: PaymentRequest) -> ProviderPayment:
        self.create_requests.append(request)
        return await self._answer("create", request, self._creates)

    async def fetch_payment(self, route: SellerRoute, external_id: str) -> ProviderPayment:
        self.fetch_requests.append((route, external_id))
        return await self._answer("fetch", external_id, self._fetches)

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        self.refund_requests.append(request)
        return await self._answer("refund", request, self._refunds)

    async def _answer(self, operation: str, request: object, answers: deque[T | Exception]) -> T:
        for observe in self.observers:
            result = observe(operation, request)
            if inspect.isawaitable(result):
                await result
        if not answers:
            raise AssertionError(f"unexpected {operation} call to the provider: {request!r}")
        answer = answers.popleft()
        if isinstance(answer, Exception):
            raise answer
        return answer
