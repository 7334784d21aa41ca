"""Creating the async engine for PostgreSQL (production) or a SQLite file (development, demos)."""

from __future__ import annotations

from pathlib import Path

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# The async driver each backend runs on; plain URLs (`postgresql://`, `sqlite:///`) are accepted.
_ASYNC_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def _async_url(url: str | URL) -> URL:
    """The URL with its async driver; refuses drivers the gateway does not ship with."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}: use postgresql:// or sqlite:///")
    return parsed.set(drivername=driver)


def create_engine(
    url: str | URL,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    sqlite_busy_timeout: float = 30.0,
) -> AsyncEngine:
    """An engine for `url`; the caller owns it and disposes of it. Pool sizes apply to PostgreSQL."""
    target = _async_url(url)
    if target.get_backend_name() == "sqlite":
        return _sqlite_engine(target, busy_timeout=sqlite_busy_timeout)
    return create_async_engine(
        target,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # Connections die with a PostgreSQL restart or failover; test each before handing it out.
        pool_pre_ping=True,
    )


def _sqlite_engine(url: URL, *, busy_timeout: float) -> AsyncEngine:
    if url.database and url.database != ":memory:":
        # The embedded default lives in ./var: a fresh checkout has no such folder yet.
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": busy_timeout})
    event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
    event.listen(engine.sync_engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module (it defers BEGIN and skips it before
    # SAVEPOINT); `_begin_immediate` emits the BEGIN instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers proceed while one writer works; SQLite leaves foreign keys off by default.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _begin_immediate(connection: Connection) -> None:
    # A deferred BEGIN takes the write lock only at the first write, so two read-then-write
    # transactions deadlock and one fails with "database is locked". IMMEDIATE takes the lock up
    # front: writers queue behind each other for up to the busy timeout instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
