"""What the provider conformance suite needs from each adapter: the adapter on its simulator.

Every provider ships a module in tests/contract/harnesses/ with an async context manager
`harness()` yielding a `ProviderHarness`; the suite in test_provider_contract.py runs against all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

import attrs

from domain.money import Money
from domain.payment import PaymentMethod
from domain.seller_route import SellerRoute

from application.ports import PaymentProvider


@attrs.frozen
class SeenRequest:
    """One request as the simulator received it, for checks on what the adapter sent."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes


class ProviderHarness(Protocol):
    provider: PaymentProvider  # the real adapter, pointed at the simulator over 127.0.0.1
    route: SellerRoute  # a seller route the simulator accepts
    method: PaymentMethod  # a method the provider supports, used to create payments
    amount: Money  # a payable amount in a currency the provider takes
    phone: str | None  # for methods that need one
    # The header carrying the idempotency key on POSTs, or None when the provider has no idempotency.
    idempotency_header: str | None
    secrets: list[str]  # every credential that must never reach a log line or an error

    async def customer_pays(self, external_id: str) -> None: ...

    async def customer_declines(self, external_id: str) -> None: ...

    async def next_call_times_out(self) -> None:
        """The simulator holds its next answer longer than the adapter's timeout."""

    def requests_seen(self) -> list[SeenRequest]: ...


@runtime_checkable
class PendingRefunds(Protocol):
    """A harness whose provider has refunds that stay pending and settle later (Stripe, YooKassa)."""

    async def refunds_stay_pending(self) -> None:
        """New refunds answer pending until `settle_refund`."""

    async def settle_refund(self, refund_external_id: str, *, succeed: bool) -> None: ...

    def refunds_held(self, payment_external_id: str) -> int:
        """How many refunds the provider holds for the payment, whatever their status."""


HarnessFactory = Callable[[], AbstractAsyncContextManager[ProviderHarness]]
Harnesses = AsyncIterator[ProviderHarness]
