"""The YooKassa adapter on its simulator over 127.0.0.1, for the provider contract suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import attrs

from domain.money import Money
from domain.payment import PaymentMethod
from domain.seller_route import Credentials, SellerRoute

from adapters.providers.http_client import build_http_client
from adapters.providers.yookassa.provider import SECRET_KEY, YooKassaProvider

from simulators.yookassa.app import YooKassaSimulatorState
from tests.contract.harness import SeenRequest
from tests.support.yookassa import new_shop, run_yookassa_simulator

# Short, so the timeout case is quick; every attempt of an operation shares it.
TIMEOUT_SECONDS = 1.0


@attrs.define
class YooKassaHarness:
    provider: YooKassaProvider
    route: SellerRoute
    state: YooKassaSimulatorState
    secrets: list[str]
    method: PaymentMethod = PaymentMethod.REDIRECT  # needs a return_url in the request
    amount: Money = attrs.field(factory=lambda: Money(59900, "RUB"))
    phone: str | None = None
    idempotency_header: str | None = "Idempotence-Key"

    async def customer_pays(self, external_id: str) -> None:
        self.state.pay(external_id)

    async def customer_declines(self, external_id: str) -> None:
        self.state.decline(external_id, reason="insufficient_funds", party="payment_network")

    async def next_call_times_out(self) -> None:
        self.state.set_knobs(fault="timeout", fault_count=1)

    async def refunds_stay_pending(self) -> None:
        self.state.set_knobs(refund_status="pending")

    async def settle_refund(self, refund_external_id: str, *, succeed: bool) -> None:
        self.state.settle_refund(refund_external_id, succeed=succeed)

    def refunds_held(self, payment_external_id: str) -> int:
        payment = self.state.payment(payment_external_id)
        return 0 if payment is None else len(payment.refunds)

    def requests_seen(self) -> list[SeenRequest]:
        return [SeenRequest(r.method, r.path, dict(r.headers), r.body) for r in self.state.requests]


@asynccontextmanager
async def harness() -> AsyncIterator[YooKassaHarness]:
    shop_id, secret_key = new_shop()
    now = datetime.now(UTC)
    route = SellerRoute(
        shop_id=49237,
        provider="yookassa",
        merchant_account=shop_id,
        credentials=Credentials({SECRET_KEY: secret_key}),
        is_active=True,
        created_at=now,
        updated_at=now,
    )
    with run_yookassa_simulator(shops={shop_id: secret_key}, hang_seconds=5 * TIMEOUT_SECONDS) as simulator:
        async with build_http_client(timeout=TIMEOUT_SECONDS) as client:
            yield YooKassaHarness(
                provider=YooKassaProvider(client=client, base_url=simulator.api_url, timeout=TIMEOUT_SECONDS),
                route=route,
                state=simulator.state,
                secrets=[secret_key],
            )
