"""The CloudPayments adapter in the contract suite, over HTTP on 127.0.0.1 against the CloudPayments simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs

from domain.money import Money
from domain.payment import PaymentMethod
from domain.seller_route import SellerRoute

from application.ports import PaymentProvider

from adapters.providers.cloudpayments.provider import CloudPaymentsProvider
from adapters.providers.http_client import build_http_client

from simulators.cloudpayments.state import CloudPaymentsSimulatorState
from tests.contract.harness import ProviderHarness, SeenRequest
from tests.support.cloudpayments import run_cloudpayments_simulator

TIMEOUT = 0.5
# Refunds, capture and void first look the paying transaction up (a read): a timeout there sends
# nothing and is a definite no. "The next call" is therefore the next one that moves money.
MONEY_MOVING = ["create", "refund", "confirm", "void"]


@attrs.define
class CloudPaymentsHarness:
    provider: PaymentProvider
    route: SellerRoute
    state: CloudPaymentsSimulatorState
    secrets: list[str]
    method: PaymentMethod = PaymentMethod.LINK
    amount: Money = Money(150_050, "RUB")
    phone: str | None = None
    idempotency_header: str | None = "X-Request-ID"

    async def customer_pays(self, external_id: str) -> None:
        # The external id is our InvoiceId; the customer pays the order that carries it.
        self.state.pay(self.state.order_for_invoice(external_id).order_id)

    async def customer_declines(self, external_id: str) -> None:
        self.state.decline(self.state.order_for_invoice(external_id).order_id)

    async def next_call_times_out(self) -> None:
        self.state.set_knobs(fault="timeout", fault_count=1, fault_operations=MONEY_MOVING)

    def requests_seen(self) -> list[SeenRequest]:
        return [
            SeenRequest(method="POST", path=r.path, headers=dict(r.headers), body=r.body) for r in self.state.requests
        ]


@asynccontextmanager
async def harness() -> AsyncIterator[ProviderHarness]:
    with run_cloudpayments_simulator(state=CloudPaymentsSimulatorState(hang_seconds=5.0)) as simulator:
        client = build_http_client(timeout=TIMEOUT)
        try:
            yield CloudPaymentsHarness(
                provider=CloudPaymentsProvider(client=client, base_url=simulator.base_url, timeout=TIMEOUT),
                route=simulator.route(),
                state=simulator.state,
                secrets=[simulator.api_secret],
            )
        finally:
            await client.aclose()
