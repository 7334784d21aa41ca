"""The Stripe simulator served over real HTTP on 127.0.0.1, mounted as the gateway mounts it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import attrs
from starlette.applications import Starlette
from starlette.routing import Mount

from simulators.stripe.app import create_stripe_simulator
from simulators.stripe.state import StripeSimulatorState
from tests.support.servers import serve

STRIPE_SANDBOX_PREFIX = "/sandbox/stripe"
PUBLISHABLE_KEY = "pk_test_simulated"  # what the page's Stripe.js (the simulator's stand-in) confirms with


@attrs.frozen
class StripeSimulatorServer:
    """Where the adapter points (`base_url`, also the root of `/control/...`), and the simulator's state."""

    base_url: str
    state: StripeSimulatorState
    secret_key: str = attrs.field(repr=False)
    publishable_key: str = PUBLISHABLE_KEY


@contextmanager
def run_stripe_simulator(
    *, secret_key: str | None = None, state: StripeSimulatorState | None = None
) -> Iterator[StripeSimulatorServer]:
    key = secret_key or f"sk_test_{secrets.token_urlsafe(24)}"
    state = state if state is not None else StripeSimulatorState(hang_seconds=10.0)
    simulator = create_stripe_simulator(secret_key=key, state=state, publishable_key=PUBLISHABLE_KEY)
    app = Starlette(routes=[Mount(STRIPE_SANDBOX_PREFIX, app=simulator)])
    with serve(app) as root:
        yield StripeSimulatorServer(base_url=f"{root}{STRIPE_SANDBOX_PREFIX}", state=state, secret_key=key)
