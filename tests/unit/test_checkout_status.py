"""The pay pages' status: however many pages poll, the provider is asked about a payment at most once
per interval, and concurrent polls share the one question in flight."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, cast

import anyio
import pytest

from domain.payment import PaymentStatus

from application.checkout_status import REFRESH_INTERVAL, CheckoutStatus
from application.get_payment import GetPayment

from tests.fakes.system import FixedClock
from tests.unit.conftest import START

pytestmark = pytest.mark.anyio


class SlowProvider:
    """Stands in for GetPayment: a refresh waits until `answer` is set, and is counted."""

    def __init__(self, status: PaymentStatus = PaymentStatus.PENDING) -> None:
        self.refreshes = 0
        self.answer = asyncio.Event()
        self.status = status

    async def by_id(self, payment_id: str, *, refresh: bool = True, actor: str | None = None) -> Any:
        if refresh:
            self.refreshes += 1
            await self.answer.wait()
        return SimpleNamespace(id=payment_id, status=self.status)


def watcher(provider: SlowProvider, clock: FixedClock) -> CheckoutStatus:
    return CheckoutStatus(get_payment=cast(GetPayment, provider), clock=clock)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_hundred_polls_at_once_ask_the_provider_once(anyio_backend: str) -> None:
    provider, clock = SlowProvider(), FixedClock(START)
    status = watcher(provider, clock)
    polls = [asyncio.create_task(status.current("pay_A")) for _ in range(100)]
    await asyncio.sleep(0)
    provider.answer.set()
    assert {p.status for p in await asyncio.gather(*polls)} == {PaymentStatus.PENDING}
    assert provider.refreshes == 1


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_provider_is_asked_again_only_after_the_interval(anyio_backend: str) -> None:
    provider, clock = SlowProvider(), FixedClock(START)
    provider.answer.set()
    status = watcher(provider, clock)
    await status.current("pay_A")
    clock.advance(REFRESH_INTERVAL - timedelta(milliseconds=1))
    await status.current("pay_A")
    assert provider.refreshes == 1
    clock.advance(timedelta(milliseconds=1))
    await status.current("pay_A")
    await status.current("pay_B")
    assert provider.refreshes == 3


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_settled_payment_is_read_without_asking(anyio_backend: str) -> None:
    provider = SlowProvider(PaymentStatus.SUCCEEDED)
    with anyio.fail_after(5):
        assert (await watcher(provider, FixedClock(START)).current("pay_A")).status == PaymentStatus.SUCCEEDED
    assert provider.refreshes == 0
