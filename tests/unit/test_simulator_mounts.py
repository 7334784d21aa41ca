"""config/simulators.py: a simulator is mounted only while a setting names it, and the sandbox's
in-process gateway reaches the adapter with its errors in the adapter's own terms."""

from __future__ import annotations

import pytest

from adapters.providers.sandbox import wire

from config.settings import SIMULATOR, Settings
from config.simulators import SandboxClient, Simulators, simulator_mounts

from simulators.sandbox import SandboxGateway

pytestmark = pytest.mark.anyio


def mounted(settings: Settings) -> list[str]:
    return [mount.path for mount in simulator_mounts(settings, Simulators(settings=settings))]


def test_no_simulator_is_mounted_without_a_setting_naming_it() -> None:
    assert mounted(Settings()) == []
    # A live provider's URL mounts nothing either.
    assert mounted(Settings(kaspi_proxy_url="https://proxy.example.kz", yookassa_api_url="https://api.yookassa.ru/v3")) == []


def test_each_simulator_named_by_its_setting_is_mounted_on_its_own_path() -> None:
    assert mounted(Settings(kaspi_proxy_url=SIMULATOR)) == ["/sandbox/kaspi"]
    assert mounted(Settings(sandbox_enabled=True)) == ["/sandbox/sandbox"]
    everything = Settings(
        kaspi_proxy_url=SIMULATOR,
        sandbox_enabled=True,
        yookassa_api_url=SIMULATOR,
        cloudpayments_api_url=SIMULATOR,
        stripe_api_url=SIMULATOR,
        stripe_secret_key="sk_test_paygate_simulator",
        stripe_webhook_secrets=("whsec_paygate_simulator",),
    )
    assert sorted(mounted(everything)) == [
        "/sandbox/cloudpayments", "/sandbox/kaspi", "/sandbox/sandbox", "/sandbox/stripe", "/sandbox/yookassa",
    ]


async def test_the_sandbox_gateways_refusal_reaches_the_adapter_as_its_own_wire_error() -> None:
    client = SandboxClient(SandboxGateway(seed=1))
    with pytest.raises(wire.SandboxRefusal) as refused:
        await client.status(account="sbx-1", payment_id="nope")
    assert refused.value.code == "payment_not_found"


async def test_a_sandbox_outage_reaches_the_adapter_as_its_own_unavailable_error() -> None:
    gateway = SandboxGateway(seed=1)
    gateway.fail_next("unavailable")
    with pytest.raises(wire.SandboxUnavailable):
        await SandboxClient(gateway).create(
            account="sbx-1", amount=100, currency="KZT", method="card", manual_capture=False,
            description="roses", idempotency_key="k-1",
        )
