"""The YooKassa simulator served over 127.0.0.1, mounted as the gateway mounts it, with its shops."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import attrs
from starlette.applications import Starlette
from starlette.routing import Mount

from simulators.yookassa.app import YooKassaSimulatorState, create_yookassa_simulator
from tests.support.servers import serve

YOOKASSA_SANDBOX_PREFIX = "/sandbox/yookassa"


def new_shop() -> tuple[str, str]:
    """A random YooKassa shop id and test secret key, as YooKassa spells them."""
    return str(100_000 + secrets.randbelow(900_000)), f"test_{secrets.token_urlsafe(32)}"


@attrs.frozen
class YooKassaSimulatorServer:
    api_url: str  # what the adapter points at: `.../v3`
    control_url: str  # the simulator's root: `/payments/...`, `/knobs`, `/notify`
    state: YooKassaSimulatorState


@contextmanager
def run_yookassa_simulator(
    *, shops: Mapping[str, str], hang_seconds: float = 10.0
) -> Iterator[YooKassaSimulatorServer]:
    state = YooKassaSimulatorState(shops=shops, hang_seconds=hang_seconds)
    app = Starlette(routes=[Mount(YOOKASSA_SANDBOX_PREFIX, app=create_yookassa_simulator(state=state))])
    with serve(app) as root:
        control_url = f"{root}{YOOKASSA_SANDBOX_PREFIX}"
        yield YooKassaSimulatorServer(api_url=f"{control_url}/v3", control_url=control_url, state=state)
