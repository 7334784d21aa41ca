"""The sandbox provider in the contract suite: the adapter on its in-process gateway."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import attrs

from domain.money import Money
from domain.payment import PaymentMethod
from domain.seller_route import Credentials, SellerRoute

from application.ports import PaymentProvider

from adapters.providers.sandbox.provider import SECRET_KEY, SandboxProvider

from config.simulators import SandboxClient

from simulators.sandbox import SandboxGateway
from tests.contract.harness import ProviderHarness, SeenRequest

SECRET = "sk_sandbox_contract_4b1f0c9e7d"
TIMEOUT = 0.3
AMOUNT = Money(250_000, "KZT")


@attrs.define
class SandboxHarness:
    gateway: SandboxGateway
    provider: PaymentProvider
    route: SellerRoute
    method: PaymentMethod = PaymentMethod.LINK  # waits for the customer, like a real checkout
    amount: Money = AMOUNT
    phone: str | None = None
    idempotency_header: str | None = "idempotency-key"
    secrets: list[str] = attrs.field(factory=lambda: [SECRET])

    async def customer_pays(self, external_id: str) -> None:
        self.gateway.customer_pays(external_id, "success")

    async def customer_declines(self, external_id: str) -> None:
        self.gateway.customer_declines(external_id, "insufficient_funds")

    async def next_call_times_out(self) -> None:
        self.gateway.fail_next("timeout")

    def requests_seen(self) -> list[SeenRequest]:
        # The sandbox has no wire: its call log stands for the requests a real provider would see.
        return [
            SeenRequest(
                method="GET" if call.operation == "status" else "POST",
                path=f"/{call.operation}",
                headers={"idempotency-key": call.idempotency_key} if call.idempotency_key else {},
                body=json.dumps(attrs.asdict(call)).encode(),
            )
            for call in self.gateway.calls
        ]


@asynccontextmanager
async def harness() -> AsyncIterator[ProviderHarness]:
    gateway = SandboxGateway(seed=7)
    now = datetime.now(UTC)
    route = SellerRoute(
        shop_id=121038,
        provider="sandbox",
        merchant_account="sbx_contract",
        credentials=Credentials({SECRET_KEY: SECRET}),
        is_active=True,
        created_at=now,
        updated_at=now,
    )
    yield SandboxHarness(gateway=gateway, provider=SandboxProvider(gateway=SandboxClient(gateway), timeout=TIMEOUT), route=route)
