"""A scriptable payment provider: each operation answers from its own queue and records its requests."""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from domain.capabilities import Capability
from domain.payment import PaymentMethod
from domain.seller_route import SellerRoute

from application.ports import (
    PaymentAction,
    PaymentRequest,
    ProviderPayment,
    ProviderProfile,
    ProviderRefund,
    RefundLookup,
    RefundRequest,
)

T = TypeVar("T")
KASPI_LIFETIME = timedelta(hours=24)
KASPI_CAPABILITIES = frozenset({Capability.PUSH_TO_PHONE, Capability.PAYMENT_LINK, Capability.PARTIAL_REFUND})
# Called during every provider call, before it answers, with the operation and its request: lets a
# test look at the world mid-call, or act in it (a concurrent request, a webhook) while the call is out.
Observer = Callable[[str, object], Awaitable[None] | None]


class FakeProvider:
    """Answers each call with the next scripted answer of its operation, raising it if it is an exception.

    A call with nothing scripted fails the test: an unexpected call to a real provider could move money.
    """

    def __init__(
        self,
        name: str = "kaspi",
        *,
        payment_lifetime: timedelta = KASPI_LIFETIME,
        capabilities: frozenset[Capability] = KASPI_CAPABILITIES,
        currencies: frozenset[str] = frozenset({"KZT"}),
        default_method: PaymentMethod = PaymentMethod.REMOTE,
        credential_names: tuple[str, ...] = ("device_token",),
    ) -> None:
        self.profile = ProviderProfile(
            name=name,
            capabilities=capabilities,
            currencies=currencies,
            default_method=default_method,
            credential_names=credential_names,
            payment_lifetime=payment_lifetime,
        )
        self.create_requests: list[PaymentRequest] = []
        self.action_requests: list[tuple[str, PaymentAction]] = []
        self._captures: deque[ProviderPayment | Exception] = deque()
        self._cancels: deque[ProviderPayment | Exception] = deque()
        self.fetch_requests: list[tuple[SellerRoute, str]] = []
        self.refund_requests: list[RefundRequest] = []
        self.observers: list[Observer] = []
        self._creates: deque[ProviderPayment | Exception] = deque()
        self._fetches: deque[ProviderPayment | Exception] = deque()
        self._refunds: deque[ProviderRefund | Exception] = deque()
        self.refund_lookups: list[RefundLookup] = []
        self._refund_fetches: deque[ProviderRefund | None | Exception] = deque()

    def will_create(self, *answers: ProviderPayment | Exception) -> None:
        self._creates.extend(answers)

    def will_fetch(self, *answers: ProviderPayment | Exception) -> None:
        self._fetches.extend(answers)

    def will_refund(self, *answers: ProviderRefund | Exception) -> None:
        self._refunds.extend(answers)

    def will_fetch_refund(self, *answers: ProviderRefund | None | Exception) -> None:
        """None: the provider verifiably has no such refund."""
        self._refund_fetches.extend(answers)

    def will_capture(self, *answers: ProviderPayment | Exception) -> None:
        self._captures.extend(answers)

    def will_cancel(self, *answers: ProviderPayment | Exception) -> None:
        self._cancels.extend(answers)

    @property
    def name(self) -> str:
        return self.profile.name

    def unused_answers(self) -> int:
        queues = (self._creates, self._fetches, self._refunds, self._refund_fetches, self._captures, self._cancels)
        return sum(len(queue) for queue in queues)

    async def create_payment(self, request: PaymentRequest) -> ProviderPayment:
        self.create_requests.append(request)
        return await self._answer("create", request, self._creates)

    async def fetch_payment(self, route: SellerRoute, external_id: str) -> ProviderPayment:
        self.fetch_requests.append((route, external_id))
        return await self._answer("fetch", external_id, self._fetches)

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        self.refund_requests.append(request)
        return await self._answer("refund", request, self._refunds)

    async def fetch_refund(self, lookup: RefundLookup) -> ProviderRefund | None:
        self.refund_lookups.append(lookup)
        return await self._answer("fetch_refund", lookup, self._refund_fetches)

    async def capture(self, action: PaymentAction) -> ProviderPayment:
        self.action_requests.append(("capture", action))
        return await self._answer("capture", action, self._captures)

    async def cancel(self, action: PaymentAction) -> ProviderPayment:
        self.action_requests.append(("cancel", action))
        return await self._answer("cancel", action, self._cancels)

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
