"""Tests that stop or restart a server run after all the others.

They start their own (a throwaway PostgreSQL cluster, `tests/support/postgres_cluster.py`) and never
touch the machine's; running them last keeps their slow set-up out of everyone else's way.
"""

from __future__ import annotations

import pytest

MARKER = "disruptive"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: restarts a server of its own (a throwaway PostgreSQL cluster); runs after every other test"
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Stable: the other tests keep their order, and the disruptive ones keep theirs at the end, where
    # the fixtures of earlier modules (servers with pooled connections) are already torn down.
    items.sort(key=lambda item: item.get_closest_marker(MARKER) is not None)
