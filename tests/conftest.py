"""Fixtures shared by every test layer; each support module owns one kind of fixture."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.support.databases",
    "tests.support.disruptive",
    "tests.support.logs",
    "tests.support.servers",
    "tests.support.postgres_cluster",  # after servers, which it imports
    "tests.support.gateway_fixtures",  # after servers and databases, which it imports
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
