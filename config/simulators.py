"""The provider simulators, built and mounted: the one production module that imports `simulators`.

A simulator says "paid" without moving money, so it is mounted on the gateway's port only while a
setting names it (`<PROVIDER>_API_URL=simulator`, `PRODUCTION_API_URL=simulator` for Kaspi,
`SANDBOX_PROVIDER=on`), never otherwise (`.importlinter` keeps every other module away from them).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from dependency_injector import containers, providers
from starlette.applications import Starlette
from starlette.routing import Mount

from adapters.providers.sandbox import wire as sandbox_wire
from adapters.redaction import protect_http_server_loggers

from config.settings import Settings

from simulators import sandbox
from simulators.cloudpayments.app import create_cloudpayments_simulator
from simulators.cloudpayments.state import CloudPaymentsSimulatorState
from simulators.kaspi import KaspiSimulatorState, create_kaspi_simulator
from simulators.stripe.app import create_stripe_simulator
from simulators.stripe.state import StripeSimulatorState
from simulators.yookassa.app import YooKassaSimulatorState, create_yookassa_simulator

_T = TypeVar("_T")


class SandboxClient:
    """The sandbox adapter's `SandboxApi` over the in-process gateway: the gateway's calls, its
    refusals and outages raised as the adapter's own wire errors (the two packages never meet)."""

    def __init__(self, gateway: sandbox.SandboxGateway) -> None:
        self._gateway = gateway

    async def create(self, **fields: Any) -> sandbox.SandboxPayment:
        return await _translated(self._gateway.create(**fields))

    async def status(self, **fields: Any) -> sandbox.SandboxPayment:
        return await _translated(self._gateway.status(**fields))

    async def capture(self, **fields: Any) -> sandbox.SandboxPayment:
        return await _translated(self._gateway.capture(**fields))

    async def cancel(self, **fields: Any) -> sandbox.SandboxPayment:
        return await _translated(self._gateway.cancel(**fields))

    async def refund(self, **fields: Any) -> sandbox.SandboxRefund:
        return await _translated(self._gateway.refund(**fields))


async def _translated(answer: Awaitable[_T]) -> _T:
    try:
        return await answer
    except sandbox.SandboxUnavailable as unavailable:
        raise sandbox_wire.SandboxUnavailable(str(unavailable)) from None
    except sandbox.SandboxRefusal as refusal:
        raise sandbox_wire.SandboxRefusal(refusal.code, refusal.message) from None


def _sandbox_gateway(settings: Settings) -> sandbox.SandboxGateway:
    knobs = sandbox.SandboxKnobs(
        success_rate=settings.sandbox_success_rate,
        latency_ms=settings.sandbox_latency_ms,
        failure_reasons=settings.sandbox_failure_reasons or tuple(sandbox.FAILURE_REASONS),
    )
    public_url = f"http://{settings.host}:{settings.port}/sandbox/sandbox"
    return sandbox.SandboxGateway(seed=settings.sandbox_seed, knobs=knobs, public_url=public_url)


def _kaspi_simulator(access_token: str, state: KaspiSimulatorState) -> Starlette:
    # Its callers put the access token in the query string, which server access logs print.
    protect_http_server_loggers()
    return create_kaspi_simulator(access_token=access_token, state=state)


def _cloudpayments_simulator_state(port: int) -> CloudPaymentsSimulatorState:
    # Sites enrol with the secret of their first call and notify this gateway: a demo needs no setup.
    return CloudPaymentsSimulatorState(
        enrol_on_first_use=True, default_notification_url=f"http://127.0.0.1:{port}/webhooks/cloudpayments"
    )


class Simulators(containers.DeclarativeContainer):
    """Each simulator's state and app; built only when asked for (a mount, or the sandbox adapter)."""

    settings = providers.Dependency(instance_of=Settings)

    kaspi_state = providers.Singleton(KaspiSimulatorState, latency_ms=settings.provided.kaspi_simulator_latency_ms)
    kaspi = providers.Singleton(_kaspi_simulator, access_token=settings.provided.kaspi_access_token, state=kaspi_state)
    # The sandbox provider's gateway lives in the process; its controls are mounted at /sandbox/sandbox.
    sandbox_gateway = providers.Singleton(_sandbox_gateway, settings)
    sandbox_api = providers.Singleton(SandboxClient, sandbox_gateway)
    sandbox_controls = providers.Singleton(sandbox.create_sandbox_controls, sandbox_gateway)
    # Any shop is enrolled with the secret key of its first request, so a demo needs no setup.
    yookassa_state = providers.Singleton(YooKassaSimulatorState, enrol_on_first_use=True)
    yookassa = providers.Singleton(create_yookassa_simulator, state=yookassa_state)
    # Delivers its signed events to this gateway's own /webhooks/stripe.
    stripe_state = providers.Singleton(
        StripeSimulatorState,
        webhook_url=settings.provided.stripe_simulator_webhook_url,
        webhook_secret=settings.provided.stripe_webhook_secrets[0],
    )
    stripe = providers.Singleton(
        create_stripe_simulator,
        secret_key=settings.provided.stripe_secret_key,
        state=stripe_state,
        publishable_key=settings.provided.stripe_publishable_key,
    )
    cloudpayments_state = providers.Singleton(_cloudpayments_simulator_state, settings.provided.port)
    cloudpayments = providers.Singleton(create_cloudpayments_simulator, state=cloudpayments_state)


def simulator_mounts(settings: Settings, simulators: Simulators) -> list[Mount]:
    """The simulators the settings name, each at `/sandbox/<provider>` on the gateway's port; no other."""
    wanted = {
        "kaspi": (settings.kaspi_simulated, simulators.kaspi),
        "sandbox": (settings.sandbox_enabled, simulators.sandbox_controls),
        "yookassa": (settings.yookassa_simulated, simulators.yookassa),
        "cloudpayments": (settings.cloudpayments_simulated, simulators.cloudpayments),
        "stripe": (settings.stripe_simulated, simulators.stripe),
    }
    return [Mount(f"/sandbox/{name}", app=app()) for name, (on, app) in wanted.items() if on]
