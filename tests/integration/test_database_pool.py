"""Pooled PostgreSQL connections: one that died while idle is replaced before use; a busy one is
trusted without a ping, and losing it fails one request, after which the pool recovers by itself."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from application.errors import StorageUnavailable

from adapters.persistence.database import create_engine

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def make_engine(postgres_url: str) -> Callable[..., AsyncEngine]:
    def make(*, ping_after_idle: float) -> AsyncEngine:
        return create_engine(postgres_url, pool_size=1, max_overflow=0, ping_after_idle=ping_after_idle)

    return make


@pytest.fixture
async def engines() -> AsyncIterator[list[AsyncEngine]]:
    made: list[AsyncEngine] = []
    yield made
    for engine in made:
        await engine.dispose()


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


def terminate(postgres_url: str, pid: int) -> None:
    """Kill one server process, as a PostgreSQL restart kills them all; return once it is gone."""
    plain = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        deadline = time.monotonic() + 10
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, f"backend {pid} still alive"
            time.sleep(0.01)  # polling the server's own view, with a deadline


async def test_a_connection_that_died_while_idle_is_replaced_before_use(
    make_engine: Callable[..., AsyncEngine], engines: list[AsyncEngine], postgres_url: str
) -> None:
    engine = make_engine(ping_after_idle=0.0)  # every returned connection counts as idle
    engines.append(engine)
    first = await backend_pid(engine)
    terminate(postgres_url, first)

    assert await backend_pid(engine) != first  # no error: the ping found it dead, a new one served


async def test_a_connection_used_moments_ago_is_trusted_and_its_loss_fails_one_request_only(
    make_engine: Callable[..., AsyncEngine], engines: list[AsyncEngine], postgres_url: str
) -> None:
    engine = make_engine(ping_after_idle=3600.0)  # nothing is ever idle long enough for a ping
    engines.append(engine)
    first = await backend_pid(engine)
    terminate(postgres_url, first)

    with pytest.raises(StorageUnavailable):  # no ping: the request itself meets the dead connection
        await backend_pid(engine)
    assert await backend_pid(engine) != first  # and the pool recovered by itself
