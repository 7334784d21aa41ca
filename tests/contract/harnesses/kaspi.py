"""The Kaspi proxy adapter in the contract suite, over HTTP on 127.0.0.1 against the proxy simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from urllib.parse import urlencode

import attrs

from domain.money import Money
from domain.payment import PaymentMethod
from domain.seller_route import Credentials, SellerRoute

from application.ports import PaymentProvider

from adapters.providers.http_client import build_plain_http_client
from adapters.providers.kaspi_proxy.provider import DEVICE_TOKEN, KaspiProxyProvider

from simulators.kaspi import KaspiSimulatorState
from tests.contract.harness import ProviderHarness, SeenRequest
from tests.support.servers import run_kaspi_simulator

DEVICE = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
BIN = "891027350515"
TIMEOUT = 0.5
AMOUNT = Money(500_000, "KZT")


@attrs.define
class KaspiHarness:
    provider: PaymentProvider
    route: SellerRoute
    state: KaspiSimulatorState
    secrets: list[str]
    method: PaymentMethod = PaymentMethod.REMOTE
    amount: Money = AMOUNT
    phone: str | None = "77015211545"
    idempotency_header: str | None = None  # the proxy has no idempotency

    async def customer_pays(self, external_id: str) -> None:
        self.state.approve(external_id)

    async def customer_declines(self, external_id: str) -> None:
        self.state.decline(external_id)

    async def next_call_times_out(self) -> None:
        self.state.set_knobs(fault="timeout", fault_count=1, fault_operations=frozenset())

    def requests_seen(self) -> list[SeenRequest]:
        # Every proxy call is a GET with its arguments in the query (secrets already masked).
        return [
            SeenRequest(method="GET", path=f"/{r.operation}/", headers={}, body=urlencode(dict(r.params)).encode())
            for r in self.state.requests
        ]


@asynccontextmanager
async def harness() -> AsyncIterator[ProviderHarness]:
    with run_kaspi_simulator() as simulator:
        client = build_plain_http_client()
        try:
            now = datetime.now(UTC)
            route = SellerRoute(
                shop_id=8,
                provider="kaspi",
                merchant_account=BIN,
                credentials=Credentials({DEVICE_TOKEN: DEVICE}),
                is_active=True,
                created_at=now,
                updated_at=now,
            )
            provider = KaspiProxyProvider(
                client=client, base_url=simulator.base_url, access_token=simulator.access_token, timeout=TIMEOUT
            )
            yield KaspiHarness(
                provider=provider, route=route, state=simulator.state, secrets=[simulator.access_token, DEVICE]
            )
        finally:
            await client.aclose()
