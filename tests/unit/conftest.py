"""Unit-layer fixtures: the application core wired to in-memory fakes, with one Kaspi seller."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.core import InMemoryGateway

START = datetime(2025, 10, 22, 12, 0, tzinfo=UTC)
SHOP = 121038  # Eileen flowers
SHOP_BIN = "920317450731"
OTHER_SHOP = 576631  # VLVT Flowers Almaty
OTHER_BIN = "210440028324"


@pytest.fixture
def gateway() -> InMemoryGateway:
    gateway = InMemoryGateway(now=START)
    gateway.seed_route(SHOP, SHOP_BIN)
    gateway.seed_route(OTHER_SHOP, OTHER_BIN)
    return gateway


@pytest.fixture
def empty_gateway() -> InMemoryGateway:
    """The same core with nothing stored yet: no route, no payment (Kaspi and YooKassa on)."""
    return InMemoryGateway(now=START)
