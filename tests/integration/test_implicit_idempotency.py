"""Implicit idempotency keys (keyless legacy creates) on SQLite and PostgreSQL: one binding per
content within the window, atomically, and a new one after it."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.database import create_engine
from adapters.persistence.implicit_idempotency import SqlImplicitIdempotency

pytestmark = pytest.mark.anyio
WINDOW = timedelta(minutes=10)
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def content() -> str:
    return f"implicit:legacy-network:{secrets.token_hex(32)}"


async def test_the_same_content_within_the_window_stands_for_the_first_key(engine: AsyncEngine) -> None:
    store, key = SqlImplicitIdempotency(engine), content()

    first = await store.bind(key, "implicit_a", NOW, WINDOW)
    retry = await store.bind(key, "implicit_b", NOW + WINDOW - timedelta(seconds=1), WINDOW)

    assert (first, retry) == ("implicit_a", "implicit_a")


async def test_after_the_window_the_same_content_is_a_new_request(engine: AsyncEngine) -> None:
    store, key = SqlImplicitIdempotency(engine), content()
    await store.bind(key, "implicit_a", NOW, WINDOW)

    later = await store.bind(key, "implicit_b", NOW + WINDOW, WINDOW)
    its_retry = await store.bind(key, "implicit_c", NOW + WINDOW + timedelta(seconds=5), WINDOW)

    assert (later, its_retry) == ("implicit_b", "implicit_b")


async def test_other_content_is_bound_on_its_own(engine: AsyncEngine) -> None:
    store = SqlImplicitIdempotency(engine)

    assert await store.bind(content(), "implicit_a", NOW, WINDOW) == "implicit_a"
    assert await store.bind(content(), "implicit_b", NOW, WINDOW) == "implicit_b"


async def test_concurrent_binds_of_one_content_all_get_the_same_key(database_url: str) -> None:
    """Each bind from its own engine (another process, or another pooled connection): one wins."""
    engines = [create_engine(database_url) for _ in range(6)]
    try:
        key = content()
        bound = await asyncio.gather(
            *(SqlImplicitIdempotency(e).bind(key, f"implicit_{i}", NOW, WINDOW) for i, e in enumerate(engines))
        )
    finally:
        await asyncio.gather(*(e.dispose() for e in engines))

    assert len(set(bound)) == 1
