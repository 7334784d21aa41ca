"""Database fixtures (SQLite files and throwaway PostgreSQL databases)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.database import create_engine
from adapters.persistence.migrate import upgrade

# The server's maintenance database; each test session creates (and drops) its own next to it.
POSTGRES_ADMIN_URL = os.environ.get("PAYGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def _admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        reason = str(error)
    # Failing, never skipping: a CI run that silently drops the PostgreSQL tests proves nothing.
    pytest.fail(f"PostgreSQL tests cannot run: {POSTGRES_ADMIN_URL} is unreachable ({reason})", pytrace=False)


@contextmanager
def _throwaway_postgres_database() -> Iterator[str]:
    """A new, empty database; yields its async URL and drops it afterwards."""
    name = f"paygate_test_{secrets.token_hex(6)}"
    with _admin_connection() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with _admin_connection() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _sqlite_file_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One migrated PostgreSQL database for the whole session: tests use random ids, not cleanup."""
    with _throwaway_postgres_database() as url:
        asyncio.run(upgrade(url))
        yield url


@pytest.fixture(scope="module")
def own_postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of one test module's own, for tests that change anything at all
    (generated requests that deactivate the demo sellers, say) and must not disturb the shared one."""
    with _throwaway_postgres_database() as url:
        asyncio.run(upgrade(url))
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = _sqlite_file_url(tmp_path / "paygate.db")
    asyncio.run(upgrade(url))
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated database of each backend in turn."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture(params=BACKENDS)
def unmigrated_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend in turn, never migrated."""
    if request.param == "sqlite":
        yield _sqlite_file_url(tmp_path / "unmigrated.db")
        return
    with _throwaway_postgres_database() as url:
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()
