"""The Stripe adapter on its simulator over 127.0.0.1, for the provider contract suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import attrs

from domain.money import Money
from domain.payment import PaymentMethod
from domain.seller_route import Credentials, SellerRoute

from adapters.providers.http_client import build_http_client
from adapters.providers.stripe.provider import StripeProvider

from simulators.stripe.state import StripeSimulatorState
from tests.contract.harness import SeenRequest
from tests.support.stripe_simulator import run_stripe_simulator

ACCOUNT = "acct_1ContractSeller"
TIMEOUT_SECONDS = 0.5


@attrs.define
class StripeHarness:
    provider: StripeProvider
    route: SellerRoute
    state: StripeSimulatorState
    secrets: list[str]
    method: PaymentMethod = PaymentMethod.CARD
    amount: Money = Money(5_000, "USD")
    phone: str | None = None
    idempotency_header: str | None = "Idempotency-Key"

    async def customer_pays(self, external_id: str) -> None:
        self.state.pay(external_id)

    async def customer_declines(self, external_id: str) -> None:
        # At Stripe a declined card leaves the PaymentIntent open (requires_payment_method): the
        # customer may try another card, so the adapter rightly reports it as pending. A decline ends
        # a payment only once the PaymentIntent is cancelled, here as the customer walked away.
        self.state.decline(external_id)
        intent = self.state.intent(external_id)
        assert intent is not None
        self.state.cancel_intent(account=intent.account, intent_id=external_id, reason="abandoned")

    async def next_call_times_out(self) -> None:
        self.state.set_knobs(fault="timeout", fault_count=1)

    async def refunds_stay_pending(self) -> None:
        self.state.set_knobs(refund_status="pending")

    async def settle_refund(self, refund_external_id: str, *, succeed: bool) -> None:
        self.state.settle_refund(refund_external_id, succeed=succeed)

    def refunds_held(self, payment_external_id: str) -> int:
        return len(self.state.refunds_of(payment_external_id))

    def requests_seen(self) -> list[SeenRequest]:
        return [SeenRequest(r.method, r.path, dict(r.headers), r.body) for r in self.state.requests]


@asynccontextmanager
async def harness() -> AsyncIterator[StripeHarness]:
    now = datetime.now(UTC)
    route = SellerRoute(
        shop_id=69292,
        provider="stripe",
        merchant_account=ACCOUNT,
        credentials=Credentials({}),  # the platform's secret key is a setting, not a route credential
        is_active=True,
        created_at=now,
        updated_at=now,
    )
    with run_stripe_simulator(state=StripeSimulatorState(hang_seconds=10 * TIMEOUT_SECONDS)) as simulator:
        async with build_http_client(timeout=TIMEOUT_SECONDS) as client:
            yield StripeHarness(
                provider=StripeProvider(
                    client=client, secret_key=simulator.secret_key, base_url=simulator.base_url, timeout=TIMEOUT_SECONDS
                ),
                route=route,
                state=simulator.state,
                secrets=[simulator.secret_key],
            )
