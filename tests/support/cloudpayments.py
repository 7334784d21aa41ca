"""The CloudPayments simulator served over real HTTP on 127.0.0.1, with one registered site."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import attrs
from starlette.applications import Starlette
from starlette.routing import Mount

from domain.seller_route import Credentials, SellerRoute

from adapters.providers.cloudpayments.provider import API_SECRET, NAME

from simulators.cloudpayments.app import create_cloudpayments_simulator
from simulators.cloudpayments.state import CloudPaymentsSimulatorState
from tests.support.servers import serve

# Where the gateway mounts the simulator; served the same way here.
CLOUDPAYMENTS_SANDBOX_PREFIX = "/sandbox/cloudpayments"


@attrs.frozen
class CloudPaymentsSimulatorServer:
    """A running simulator: where the adapter points, its state, and a site it knows."""

    base_url: str
    state: CloudPaymentsSimulatorState
    public_id: str
    api_secret: str = attrs.field(repr=False)

    def route(self, *, shop_id: int = 8, api_secret: str | None = None) -> SellerRoute:
        now = datetime.now(UTC)
        return SellerRoute(
            shop_id=shop_id,
            provider=NAME,
            merchant_account=self.public_id,
            credentials=Credentials({API_SECRET: self.api_secret if api_secret is None else api_secret}),
            is_active=True,
            created_at=now,
            updated_at=now,
        )


@contextmanager
def run_cloudpayments_simulator(
    *,
    state: CloudPaymentsSimulatorState | None = None,
    notification_url: str | None = None,
    notification_format: str = "form",
) -> Iterator[CloudPaymentsSimulatorServer]:
    """Serve the simulator at `/sandbox/cloudpayments` with a fresh site (random public id and secret)."""
    state = state if state is not None else CloudPaymentsSimulatorState(hang_seconds=10.0)
    public_id = f"pk_{secrets.token_hex(12)}"
    api_secret = secrets.token_urlsafe(24)
    state.add_site(public_id, api_secret, notification_url=notification_url, notification_format=notification_format)
    app = Starlette(routes=[Mount(CLOUDPAYMENTS_SANDBOX_PREFIX, app=create_cloudpayments_simulator(state=state))])
    with serve(app) as root:
        yield CloudPaymentsSimulatorServer(
            base_url=f"{root}{CLOUDPAYMENTS_SANDBOX_PREFIX}", state=state, public_id=public_id, api_secret=api_secret
        )
