"""The sandbox gateway: seeded outcomes, failure reasons, two-step, refunds, expiry and its controls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from simulators.sandbox import (
    FAILURE_REASONS,
    PAYMENT_LIFETIME,
    SandboxGateway,
    SandboxKnobs,
    SandboxPayment,
    SandboxRefusal,
    create_sandbox_controls,
)

pytestmark = pytest.mark.anyio

ACCOUNT = "sbx-1"


async def card(gateway: SandboxGateway, key: str, *, manual_capture: bool = False, amount: int = 10_000, **options: Any) -> SandboxPayment:
    return await gateway.create(
        account=ACCOUNT, amount=amount, currency="KZT", method="card", manual_capture=manual_capture,
        description="roses", idempotency_key=key, **options,
    )


async def outcomes(seed: int, count: int = 40) -> list[str]:
    gateway = SandboxGateway(seed=seed, knobs=SandboxKnobs(success_rate=0.5))
    return [(await card(gateway, f"k{n}")).failure_reason or "ok" for n in range(count)]


async def test_the_same_seed_gives_the_same_outcomes() -> None:
    first, again, other = await outcomes(7), await outcomes(7), await outcomes(8)

    assert first == again
    assert first != other
    assert {"ok"} < set(first), "a 50% success rate gives both outcomes over 40 payments"


async def test_a_reset_replays_the_seed() -> None:
    gateway = SandboxGateway(seed=3, knobs=SandboxKnobs(success_rate=0.5))
    before = [(await card(gateway, f"k{n}")).status for n in range(10)]
    gateway.reset()

    assert [(await card(gateway, f"k{n}")).status for n in range(10)] == before


async def test_declines_give_one_of_the_configured_reasons() -> None:
    gateway = SandboxGateway(seed=1, knobs=SandboxKnobs(success_rate=0.0, failure_reasons=("expired_card", "lost_card")))

    reasons = {(await card(gateway, f"k{n}")).failure_reason for n in range(30)}

    assert reasons == {"expired_card", "lost_card"}


async def test_a_forced_outcome_wins_over_the_success_rate() -> None:
    gateway = SandboxGateway(knobs=SandboxKnobs(success_rate=1.0))

    declined = await card(gateway, "k1", outcome="insufficient_funds")

    assert (declined.status, declined.failure_reason) == ("failed", "insufficient_funds")


@pytest.mark.parametrize("bad", [{"success_rate": 1.5}, {"latency_ms": -1}, {"failure_reasons": ("nope",)}, {"failure_reasons": ()}])
def test_impossible_knobs_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SandboxKnobs(**bad)


async def test_a_two_step_payment_is_authorised_captured_and_refunded_in_parts() -> None:
    gateway = SandboxGateway()
    payment = await card(gateway, "k1", manual_capture=True)
    assert payment.status == "authorized"

    captured = await gateway.capture(account=ACCOUNT, payment_id=payment.id, idempotency_key="cap")
    again = await gateway.capture(account=ACCOUNT, payment_id=payment.id, idempotency_key="cap")
    await gateway.refund(account=ACCOUNT, payment_id=payment.id, amount=4_000, idempotency_key="r1")
    await gateway.refund(account=ACCOUNT, payment_id=payment.id, amount=4_000, idempotency_key="r1")  # a retry
    with pytest.raises(SandboxRefusal) as refused:
        await gateway.refund(account=ACCOUNT, payment_id=payment.id, amount=6_001, idempotency_key="r2")

    assert (captured.status, again.status) == ("succeeded", "succeeded")
    assert refused.value.code == "refund_exceeds_remaining"
    assert gateway.payment(payment.id).refunded == 4_000


async def test_a_retried_create_returns_the_first_payment() -> None:
    gateway = SandboxGateway()

    first, second = await card(gateway, "same"), await card(gateway, "same")

    assert first.id == second.id
    assert len(gateway.payments()) == 1


async def test_another_accounts_payment_does_not_exist() -> None:
    gateway = SandboxGateway()
    payment = await card(gateway, "k1")

    with pytest.raises(SandboxRefusal) as refused:
        await gateway.status(account="sbx-other", payment_id=payment.id)

    assert refused.value.code == "payment_not_found"


async def test_an_unpaid_link_expires() -> None:
    now = datetime(2025, 10, 22, 12, 0, tzinfo=UTC)
    clock = [now]
    gateway = SandboxGateway(now=lambda: clock[0])
    link = await gateway.create(
        account=ACCOUNT, amount=500, currency="KZT", method="link", manual_capture=False, description="", idempotency_key="k"
    )
    assert (link.status, link.payment_link is not None) == ("pending", True)

    clock[0] = now + PAYMENT_LIFETIME + timedelta(seconds=1)

    assert (await gateway.status(account=ACCOUNT, payment_id=link.id)).status == "expired"


async def test_the_controls_let_a_customer_pay_and_an_operator_turn_the_knobs() -> None:
    gateway = SandboxGateway()
    link = await gateway.create(
        account=ACCOUNT, amount=500, currency="KZT", method="redirect", manual_capture=False, description="", idempotency_key="k"
    )
    transport = httpx.ASGITransport(app=create_sandbox_controls(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as controls:
        paid = await controls.post(f"/payments/{link.id}/pay", json={"outcome": "success"})
        again = await controls.post(f"/payments/{link.id}/pay")
        knobs = await controls.post("/knobs", json={"success_rate": 0.25, "failure_reasons": ["lost_card"]})
        bad = await controls.post("/knobs", json={"success_rate": 2})
        unknown = await controls.get("/payments/sbx_nope")

    assert (paid.status_code, paid.json()["status"]) == (200, "succeeded")
    assert again.status_code == 409
    assert knobs.json() == {"success_rate": 0.25, "latency_ms": 0, "failure_reasons": ["lost_card"]}
    assert (bad.status_code, unknown.status_code) == (422, 404)
    assert set(FAILURE_REASONS) >= set(gateway.knobs.failure_reasons)
